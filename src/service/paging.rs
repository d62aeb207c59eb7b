//! Opaque page tokens (base64url of the last id) and page sizes.

use crate::domain::FieldViolation;
use crate::store::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Validates `page_size` (0 means the default) and decodes `page_token`.
pub fn page_request(page_size: u32, page_token: &str) -> Result<PageRequest, FieldViolation> {
    if page_size > MAX_PAGE_SIZE {
        return Err(FieldViolation::new(
            "page_size",
            format!("must be at most {MAX_PAGE_SIZE}"),
        ));
    }
    let size = if page_size == 0 { DEFAULT_PAGE_SIZE } else { page_size };
    let after = if page_token.is_empty() {
        None
    } else {
        let bytes = URL_SAFE_NO_PAD
            .decode(page_token)
            .map_err(|_| FieldViolation::new("page_token", "is not a token this server issued"))?;
        Some(
            Uuid::from_slice(&bytes)
                .map_err(|_| FieldViolation::new("page_token", "is not a token this server issued"))?,
        )
    };
    Ok(PageRequest { size, after })
}

/// The page token for the page after `last`, empty at the end.
pub fn next_token(next: Option<Uuid>) -> String {
    next.map(|id| URL_SAFE_NO_PAD.encode(id.as_bytes())).unwrap_or_default()
}

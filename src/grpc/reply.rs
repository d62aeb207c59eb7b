//! The Verify answer as the server writes it: the bytes of a `VerifyResponse`, written
//! straight from the decision. A cached key's `Principal` is encoded once per cache entry
//! and copied into every answer that names it; the rate-limit verdict's header values are
//! formatted on the stack. A cached allow so costs no heap allocation of its own, where
//! building the generated message cost a dozen `String`s, a `Vec` and a `HashMap`.
//!
//! Clients, tests included, decode the generated `VerifyResponse`: the wire format is the
//! same (`tests` below holds the two encodings to it).

use super::convert::{role_to, timestamp_to};
use crate::domain::key_format::{Environment, prefix_of};
use crate::proto::v1 as pb;
use crate::ratelimit::{self, HEADER_CAPACITY};
use crate::verify::RateLimitOutcome;
use crate::verify::cache::{CachedKey, VerifiedKey};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};
use std::fmt;
use std::sync::Arc;

/// A `VerifyResponse` on its way out. Only ever encoded: decoding skips every field.
#[derive(Debug, Default)]
pub struct VerifyReply {
    pub(super) allowed: bool,
    pub(super) reason: i32,
    pub(super) http_status: u32,
    pub(super) principal: Option<PrincipalField>,
    pub(super) rate_limit: Option<RateLimitField>,
}

/// Field 4.
#[derive(Debug)]
pub(super) enum PrincipalField {
    /// A key: its entry holds the encoded message.
    Key(Arc<CachedKey>),
    /// A user: built per call (tokens are not the hot path's common case).
    Message(Box<pb::Principal>),
}

/// Field 5, with its two header values already formatted.
#[derive(Debug)]
pub(super) struct RateLimitField {
    outcome: RateLimitOutcome,
    policy_header: Text,
    header: Text,
}

impl PrincipalField {
    fn body_len(&self) -> usize {
        match self {
            PrincipalField::Key(k) => encoded_key(k).len(),
            PrincipalField::Message(m) => m.encoded_len(),
        }
    }

    fn encode_body(&self, buf: &mut impl BufMut) {
        match self {
            PrincipalField::Key(k) => buf.put_slice(encoded_key(k)),
            PrincipalField::Message(m) => m.encode_raw(buf),
        }
    }
}

/// A key's `Principal` message, encoded on first use into its cache entry.
fn encoded_key(k: &CachedKey) -> &[u8] {
    k.encoded_principal
        .get_or_init(|| key_principal(&k.key).encode_to_vec().into_boxed_slice())
}

/// The `Principal` of a key, as [`encoded_key`] keeps it.
pub(super) fn key_principal(k: &VerifiedKey) -> pb::Principal {
    pb::Principal {
        r#type: pb::PrincipalType::ServiceAccount as i32,
        id: k.service_account_id.to_string(),
        org_id: k.org_id.to_string(),
        role: role_to(k.role) as i32,
        scopes: k.scopes.to_strings(),
        key_id: k.id.to_string(),
        key_prefix: prefix_of(k.kind, k.environment).to_owned(),
        key_start: k.display_prefix(),
        environment: match k.environment {
            Environment::Live => pb::Environment::Live,
            Environment::Test => pb::Environment::Test,
        } as i32,
        expires_at: k.expires_at.map(timestamp_to),
        metadata: k.metadata.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
    }
}

impl RateLimitField {
    pub(super) fn new(outcome: RateLimitOutcome) -> Self {
        let mut policy_header = Text::default();
        let mut header = Text::default();
        // Neither can outgrow `Text` (HEADER_CAPACITY bounds both); if one ever did, the
        // field would be cut short rather than the answer lost.
        let _ = ratelimit::write_policy_header(&mut policy_header, outcome.bucket, &outcome.policy);
        let _ = ratelimit::write_header(&mut header, outcome.bucket, &outcome.verdict);
        Self {
            outcome,
            policy_header,
            header,
        }
    }

    fn durations(&self) -> [(u32, prost_types::Duration); 3] {
        let o = &self.outcome;
        [
            (4, super::convert::duration_to(o.policy.window)),
            (6, super::convert::duration_to(o.verdict.reset_after)),
            (7, super::convert::duration_to(o.verdict.retry_after)),
        ]
    }

    fn body_len(&self) -> usize {
        let o = &self.outcome;
        let [window, reset, retry] = self.durations();
        let limited = if o.verdict.allowed {
            0
        } else {
            encoding::bool::encoded_len(1, &true)
        };
        limited
            + str_len(2, o.bucket.policy_name().as_bytes())
            + uint32_len(3, o.policy.limit)
            + encoding::message::encoded_len(window.0, &window.1)
            + uint32_len(5, o.verdict.remaining)
            + encoding::message::encoded_len(reset.0, &reset.1)
            + encoding::message::encoded_len(retry.0, &retry.1)
            + str_len(8, self.policy_header.as_bytes())
            + str_len(9, self.header.as_bytes())
    }

    fn encode_body(&self, buf: &mut impl BufMut) {
        let o = &self.outcome;
        let [window, reset, retry] = self.durations();
        if !o.verdict.allowed {
            encoding::bool::encode(1, &true, buf);
        }
        put_str(2, o.bucket.policy_name().as_bytes(), buf);
        put_uint32(3, o.policy.limit, buf);
        encoding::message::encode(window.0, &window.1, buf);
        put_uint32(5, o.verdict.remaining, buf);
        encoding::message::encode(reset.0, &reset.1, buf);
        encoding::message::encode(retry.0, &retry.1, buf);
        put_str(8, self.policy_header.as_bytes(), buf);
        put_str(9, self.header.as_bytes(), buf);
    }
}

impl Message for VerifyReply {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.allowed {
            encoding::bool::encode(1, &self.allowed, buf);
        }
        if self.reason != 0 {
            encoding::int32::encode(2, &self.reason, buf);
        }
        put_uint32(3, self.http_status, buf);
        if let Some(p) = &self.principal {
            put_delimited(4, p.body_len(), buf);
            p.encode_body(buf);
        }
        if let Some(r) = &self.rate_limit {
            put_delimited(5, r.body_len(), buf);
            r.encode_body(buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        let allowed = if self.allowed {
            encoding::bool::encoded_len(1, &true)
        } else {
            0
        };
        let reason = if self.reason != 0 {
            encoding::int32::encoded_len(2, &self.reason)
        } else {
            0
        };
        let principal = self.principal.as_ref().map_or(0, |p| delimited_len(4, p.body_len()));
        let rate_limit = self.rate_limit.as_ref().map_or(0, |r| delimited_len(5, r.body_len()));
        allowed + reason + uint32_len(3, self.http_status) + principal + rate_limit
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

fn put_delimited(tag: u32, len: usize, buf: &mut impl BufMut) {
    encoding::encode_key(tag, WireType::LengthDelimited, buf);
    encoding::encode_varint(len as u64, buf);
}

fn delimited_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// A proto3 string: absent when empty.
fn put_str(tag: u32, s: &[u8], buf: &mut impl BufMut) {
    if !s.is_empty() {
        put_delimited(tag, s.len(), buf);
        buf.put_slice(s);
    }
}

fn str_len(tag: u32, s: &[u8]) -> usize {
    if s.is_empty() { 0 } else { delimited_len(tag, s.len()) }
}

/// A proto3 uint32: absent when zero.
fn put_uint32(tag: u32, v: u32, buf: &mut impl BufMut) {
    if v != 0 {
        encoding::uint32::encode(tag, &v, buf);
    }
}

fn uint32_len(tag: u32, v: u32) -> usize {
    if v != 0 {
        encoding::uint32::encoded_len(tag, &v)
    } else {
        0
    }
}

/// A header value formatted on the stack.
#[derive(Clone, Copy)]
struct Text {
    buf: [u8; HEADER_CAPACITY],
    len: usize,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            buf: [0; HEADER_CAPACITY],
            len: 0,
        }
    }
}

impl Text {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests;

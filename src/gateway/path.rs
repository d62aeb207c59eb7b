//! Request paths as the route table sees them: normalised the way an upstream would resolve
//! them, so `/v1/x/../admin` or `/v1/%61dmin` cannot slip past a rule for `/v1/admin/**`.

/// The path of `uri` (query and fragment dropped), percent-decoded, with empty and `.`
/// segments removed and `..` applied. Always starts with `/`.
pub fn normalize(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    // An absolute-form target (`http://host/path`) carries its path after the authority.
    let path = match path.find("://") {
        Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
        None => path,
    };
    let decoded = percent_decode(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (decoded.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                // Both digits are below 16, so the byte fits.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` matches `pattern`: `*` matches any run of characters within one segment,
/// `**` any run including `/`; everything else matches itself. `/x/**` covers `/x` too.
pub fn matches(pattern: &str, path: &str) -> bool {
    pattern.strip_suffix("/**").is_some_and(|base| base == path) || glob(pattern.as_bytes(), path.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let segment_end = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
            (0..=segment_end).any(|i| glob(rest, &s[i..]))
        }
        [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_before_matching() {
        assert_eq!(normalize("/v1/cameras?x=1"), "/v1/cameras");
        assert_eq!(normalize("/v1//cameras/./7/"), "/v1/cameras/7/");
        assert_eq!(normalize("/v1/leads/../admin/x"), "/v1/admin/x");
        assert_eq!(normalize("/v1/%61dmin/%2e%2e/admin"), "/v1/admin");
        assert_eq!(normalize("/../../etc"), "/etc");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("http://api.test/v1/x?y"), "/v1/x");
    }

    #[test]
    fn globs_match_segments_and_rests() {
        assert!(matches("/v1/cameras/*/feed", "/v1/cameras/7/feed"));
        assert!(!matches("/v1/cameras/*/feed", "/v1/cameras/7/8/feed"));
        assert!(matches("/v1/admin/**", "/v1/admin/users/1"));
        assert!(matches("/v1/admin/**", "/v1/admin/"));
        assert!(matches("/v1/admin/**", "/v1/admin"));
        assert!(!matches("/v1/admin/**", "/v1/administrators"));
        assert!(matches("/v1/*.json", "/v1/a.json"));
        assert!(matches("/exact", "/exact"));
        assert!(!matches("/exact", "/exact/more"));
    }
}

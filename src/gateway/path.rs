//! Request paths as the route table sees them. An upstream may read a path in several ways
//! (decoded or not, `..` applied or not, `;params` dropped or not, any letter case), so a
//! request is matched under each reading and every rule that matches any of them applies:
//! `/v1/x/../admin`, `/v1/%61dmin`, `/V1/ADMIN` or `/v1/admin;x` cannot slip past a rule for
//! `/v1/admin/**`.

/// The readings of `uri`'s path (query and fragment dropped).
pub fn readings(uri: &str) -> Vec<String> {
    let raw = uri.split(['?', '#']).next().unwrap_or_default();
    // Only an absolute-form target (`http://host/path`) carries a scheme; a `://` inside a
    // path is part of the path.
    let raw = match raw.find("://") {
        Some(i) if !raw.starts_with('/') => raw[i + 3..].find('/').map_or("/", |j| &raw[i + 3 + j..]),
        _ => raw,
    };
    let decoded = normalize(&percent_decode(raw));
    let mut out = vec![raw.to_owned(), decoded];
    for i in 0..out.len() {
        if out[i].contains(';') {
            let plain = without_params(&out[i]);
            // Servlet containers drop `;params` before they decode and apply `..`, so to them
            // `/public/..;/admin` is `/admin` and `/;/admin` is `/admin`.
            let decoded = if i == 0 { percent_decode(&plain) } else { plain.clone() };
            out.push(normalize(&decoded));
            out.push(plain);
        }
    }
    out.dedup();
    out
}

/// `path` with empty and `.` segments removed and `..` applied. Always starts with `/`.
pub fn normalize(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// Each segment without its `;parameters` (as servlet containers read them).
fn without_params(path: &str) -> String {
    path.split('/')
        .map(|seg| seg.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
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

/// Whether `path` matches `pattern`, ignoring ASCII case: `*` matches any run of characters
/// within one segment, `**` any run including `/`; everything else matches itself. `/x/**`
/// covers `/x` too. Patterns hold at most one `**` (checked at start), which keeps matching
/// linear in the path for each `*`.
pub fn matches(pattern: &str, path: &str) -> bool {
    pattern
        .strip_suffix("/**")
        .is_some_and(|base| base.eq_ignore_ascii_case(path))
        || glob(pattern.as_bytes(), path.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let segment_end = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
            (0..=segment_end).any(|i| glob(rest, &s[i..]))
        }
        [c, rest @ ..] => s.first().is_some_and(|b| b.eq_ignore_ascii_case(c)) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads_as(uri: &str, want: &str) -> bool {
        readings(uri).iter().any(|r| r == want)
    }

    #[test]
    fn paths_are_read_every_way_an_upstream_might() {
        assert_eq!(readings("/v1/cameras?x=1"), vec!["/v1/cameras"]);
        assert!(reads_as("/v1//cameras/./7/", "/v1/cameras/7/"));
        assert!(reads_as("/v1/leads/../admin/x", "/v1/admin/x"));
        assert!(reads_as("/v1/%61dmin/%2e%2e/admin", "/v1/admin"));
        assert!(
            reads_as("/v1/cameras/%2e%2e/leads", "/v1/cameras/%2e%2e/leads"),
            "undecoded too"
        );
        assert!(reads_as("/v1/cameras;x/7", "/v1/cameras/7"));
        assert!(
            reads_as("/v1/public/..;/admin/x", "/v1/admin/x"),
            "params dropped, then `..`"
        );
        assert!(reads_as("/v1/public/%2e%2e;x/admin", "/v1/admin"));
        assert!(reads_as("/;/v1/.;/admin", "/v1/admin"));
        assert!(reads_as("/../../etc", "/etc"));
        assert!(reads_as("", "/"));
        assert!(reads_as("http://api.test/v1/x?y", "/v1/x"));
        for uri in ["/v1/cameras/7;a://h", "/v1/cameras/x://h/public"] {
            let all = readings(uri);
            assert!(
                all.iter().all(|r| matches("/v1/cameras/**", r)),
                "a `://` in a path is no scheme: {all:?}"
            );
        }
    }

    #[test]
    fn globs_match_segments_and_rests_in_any_case() {
        assert!(matches("/v1/cameras/*/feed", "/v1/cameras/7/feed"));
        assert!(!matches("/v1/cameras/*/feed", "/v1/cameras/7/8/feed"));
        assert!(matches("/v1/admin/**", "/v1/admin/users/1"));
        assert!(matches("/v1/admin/**", "/v1/admin/"));
        assert!(matches("/v1/admin/**", "/v1/admin"));
        assert!(matches("/v1/admin/**", "/V1/ADMIN/x"));
        assert!(!matches("/v1/admin/**", "/v1/administrators"));
        assert!(matches("/v1/*.json", "/v1/a.json"));
        assert!(matches("/exact", "/exact"));
        assert!(!matches("/exact", "/exact/more"));
    }
}

//! Driving nghttp2's `h2load`: a C client far lighter than our own tonic one, so that at 64
//! calls in flight the server, not the client, is what runs out of CPU. h2load knows nothing
//! of gRPC: it POSTs one prebuilt body (a gRPC frame of the request) and counts HTTP
//! statuses, so the caller checks gRPC outcomes some other way (gatekey's `/metrics`).

use anyhow::{Context, bail};
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// Where h2load comes from, for the error when it is missing.
const INSTALL_HINT: &str = "install it with `apt-get install nghttp2-client`";

/// How h2load loads a server: `clients` HTTP/2 connections with up to `streams` calls in
/// flight on each, spread over `threads` client threads.
#[derive(Debug, Clone)]
pub struct H2load {
    pub binary: PathBuf,
    pub clients: usize,
    pub streams: usize,
    pub threads: usize,
}

/// What h2load reported for one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct H2loadRun {
    pub requests: u64,
    pub succeeded: u64,
    /// Responses with a 2xx status; every gRPC answer, error or not, is a 200.
    pub status_2xx: u64,
    /// From h2load's first request to its last response.
    pub elapsed_secs: f64,
    /// Response DATA bytes (gRPC frames), to compare answer sizes between servers.
    pub data_bytes: u64,
}

impl H2load {
    /// `h2load --version`, so a missing tool fails before any server starts.
    pub async fn ensure_installed(&self) -> anyhow::Result<String> {
        let out = Command::new(&self.binary)
            .arg("--version")
            .output()
            .await
            .with_context(|| format!("running {}; {INSTALL_HINT}", self.binary.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "{} --version failed; {INSTALL_HINT}",
            self.binary.display()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// POSTs `body` to `url` `requests` times as gRPC (`content-type: application/grpc`,
    /// `te: trailers`) and fails unless every request got a 2xx answer.
    pub async fn run(&self, url: &str, body: &Path, requests: u64) -> anyhow::Result<H2loadRun> {
        let out = Command::new(&self.binary)
            .args(self.args(url, body, requests))
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("running {}; {INSTALL_HINT}", self.binary.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "h2load failed ({}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let run = parse(&text).with_context(|| format!("reading h2load's report:\n{text}"))?;
        if run.succeeded != requests || run.status_2xx != requests {
            bail!(
                "h2load: {} of {requests} requests succeeded, {} with a 2xx status:\n{text}",
                run.succeeded,
                run.status_2xx
            );
        }
        Ok(run)
    }

    fn args(&self, url: &str, body: &Path, requests: u64) -> Vec<String> {
        vec![
            "-n".to_owned(),
            requests.to_string(),
            "-c".to_owned(),
            self.clients.to_string(),
            "-m".to_owned(),
            self.streams.to_string(),
            "-t".to_owned(),
            self.threads.to_string(),
            "-H".to_owned(),
            "content-type: application/grpc".to_owned(),
            "-H".to_owned(),
            "te: trailers".to_owned(),
            // A body makes h2load POST it on every request.
            "-d".to_owned(),
            body.display().to_string(),
            url.to_owned(),
        ]
    }
}

/// `message` as one gRPC length-prefixed frame: uncompressed flag, big-endian length, bytes.
pub fn grpc_frame(message: &impl Message) -> anyhow::Result<Vec<u8>> {
    let bytes = message.encode_to_vec();
    let len = u32::try_from(bytes.len()).context("message over 4 GiB")?;
    let mut frame = Vec::with_capacity(5 + bytes.len());
    frame.push(0);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&bytes);
    Ok(frame)
}

/// Reads the summary lines of h2load's report:
///
/// ```text
/// finished in 1.52s, 65789.47 req/s, 18.07MB/s
/// requests: 100000 total, 100000 started, 100000 done, 100000 succeeded, 0 failed, 0 errored, 0 timeout
/// status codes: 100000 2xx, 0 3xx, 0 4xx, 0 5xx
/// traffic: 27.47MB (28800124) total, 1.15MB (1200124) headers (space savings 95.24%), 26.23MB (27500000) data
/// ```
fn parse(text: &str) -> anyhow::Result<H2loadRun> {
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .with_context(|| format!("no `{prefix}` line"))
    };
    let finished = line("finished in ")?;
    let elapsed = finished.split(',').next().context("no elapsed time")?;
    let requests = line("requests: ")?;
    let statuses = line("status codes: ")?;
    let traffic = line("traffic: ")?;
    Ok(H2loadRun {
        requests: count_of(requests, "total")?,
        succeeded: count_of(requests, "succeeded")?,
        status_2xx: count_of(statuses, "2xx")?,
        elapsed_secs: parse_elapsed(elapsed.trim())?.as_secs_f64(),
        data_bytes: bytes_of(traffic, "data")?,
    })
}

/// `N` of the `N what` item in a comma-separated list.
fn count_of(list: &str, what: &str) -> anyhow::Result<u64> {
    list.split(',')
        .find_map(|item| item.trim().strip_suffix(what))
        .with_context(|| format!("no `{what}` count"))?
        .trim()
        .parse()
        .with_context(|| format!("`{what}` is not a count"))
}

/// `B` of the `... (B) what` item of the traffic line.
fn bytes_of(list: &str, what: &str) -> anyhow::Result<u64> {
    let item = list
        .split(',')
        .find(|item| item.trim().ends_with(what))
        .with_context(|| format!("no `{what}` traffic"))?;
    let (_, rest) = item.split_once('(').context("no byte count")?;
    let (bytes, _) = rest.split_once(')').context("no byte count")?;
    bytes
        .parse()
        .with_context(|| format!("`{what}` traffic is not a byte count"))
}

/// `1.52s`, `845.10ms` or `912us`, as h2load prints them.
fn parse_elapsed(raw: &str) -> anyhow::Result<Duration> {
    let (number, scale) = if let Some(n) = raw.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = raw.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = raw.strip_suffix('s') {
        (n, 1.0)
    } else {
        bail!("{raw:?} is not a duration")
    };
    let n: f64 = number.parse().with_context(|| format!("{raw:?} is not a duration"))?;
    Ok(Duration::try_from_secs_f64(n * scale)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatekey::proto::v1 as pb;

    const REPORT: &str = "starting benchmark...
spawning thread #0: 4 total client(s). 100000 total requests
Application protocol: h2c
progress: 100% done

finished in 1.52s, 65789.47 req/s, 18.07MB/s
requests: 100000 total, 100000 started, 100000 done, 99990 succeeded, 10 failed, 10 errored, 0 timeout
status codes: 99990 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 27.47MB (28800124) total, 1.15MB (1200124) headers (space savings 95.24%), 26.23MB (27500000) data
                     min         max         mean         sd        +/- sd
time for request:      110us     12.93ms       950us       520us    81.20%
";

    #[test]
    fn reads_the_summary_of_an_h2load_report() {
        let run = parse(REPORT).expect("parses");
        assert_eq!(run.requests, 100_000);
        assert_eq!(run.succeeded, 99_990);
        assert_eq!(run.status_2xx, 99_990);
        assert_eq!(run.data_bytes, 27_500_000);
        assert!((run.elapsed_secs - 1.52).abs() < 1e-9);
        assert!(parse("finished in 1s").is_err());
    }

    #[test]
    fn elapsed_times_take_h2load_units() {
        assert_eq!(parse_elapsed("845.5ms").ok(), Some(Duration::from_micros(845_500)));
        assert_eq!(parse_elapsed("912us").ok(), Some(Duration::from_micros(912)));
        assert_eq!(parse_elapsed("2s").ok(), Some(Duration::from_secs(2)));
        assert!(parse_elapsed("2h").is_err());
    }

    #[test]
    fn a_grpc_frame_is_flag_length_and_message() {
        let request = pb::VerifyRequest {
            credential: "sk_live_x".to_owned(),
            ..Default::default()
        };
        let frame = grpc_frame(&request).expect("frames");
        let len = request.encoded_len();
        assert_eq!(frame[0], 0);
        assert_eq!(frame[1..5], u32::try_from(len).expect("small").to_be_bytes());
        assert_eq!(pb::VerifyRequest::decode(&frame[5..]).ok(), Some(request));
    }
}

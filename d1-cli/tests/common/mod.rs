//! What the tests that drive `d1kit` on throwaway crates share.

// Each test binary uses part of it.
#![allow(dead_code)]

use d1_codegen::wrangler::{self, FileBlock, Format, WranglerFile};
use d1_fake::FakeD1;
use std::path::Path;
use std::process::Command;

/// (exit code, stdout, stderr) of `d1kit <args>` in `dir`, with the fake's account and token
/// (none without a fake: no Cloudflare variable of the caller's leaks in).
pub fn run(dir: &Path, args: &[&str], fake: Option<&FakeD1>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_d1kit"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("D1KIT_API_URL");
    if let Some(fake) = fake {
        cmd.env("CLOUDFLARE_ACCOUNT_ID", fake.account_id())
            .env("CLOUDFLARE_API_TOKEN", fake.token())
            .env("D1KIT_API_URL", fake.base_url());
    }
    let out = cmd.output().expect("run d1kit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `d1kit <args> --format json` in `dir` (with the fake, as [`run`]): its exit code and its
/// report, parsed.
pub fn json(dir: &Path, args: &[&str], fake: Option<&FakeD1>) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = run(dir, &all, fake);
    let value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, value)
}

/// Database `id` (its uuid or its name) as the fake's `GET …/database/{id}` describes it: the
/// reply's `result`, which must be a success (plain HTTP/1.1 over a socket: the tests need no
/// HTTP client for one request).
pub fn describe_database(fake: &FakeD1, id: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    let url = format!("{}/{id}", fake.databases_url());
    let path = &url[url.find("/client/").unwrap()..];
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        fake.token()
    )
    .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    assert_eq!(json["success"], true, "{response}");
    json["result"].clone()
}

/// Every `[[d1_databases]]` block of the wrangler file at `path`.
pub fn blocks(path: &Path) -> Vec<FileBlock> {
    let file = WranglerFile {
        path: path.to_path_buf(),
        format: Format::of(path),
    };
    wrangler::file_blocks(&std::fs::read_to_string(path).unwrap(), &file).unwrap()
}

//! What the tests that drive `d1kit` on throwaway crates share.

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

/// Every `[[d1_databases]]` block of the wrangler file at `path`.
pub fn blocks(path: &Path) -> Vec<FileBlock> {
    let file = WranglerFile {
        path: path.to_path_buf(),
        format: Format::of(path),
    };
    wrangler::file_blocks(&std::fs::read_to_string(path).unwrap(), &file).unwrap()
}

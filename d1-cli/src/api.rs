//! The D1 REST API client of the `--remote` commands, from wrangler's variables.

use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::rest::Client;

/// The variables wrangler reads too.
const ACCOUNT_VAR: &str = "CLOUDFLARE_ACCOUNT_ID";
const TOKEN_VAR: &str = "CLOUDFLARE_API_TOKEN";
/// The API's root, for tests (a fake server); not documented for users.
const API_URL_VAR: &str = "D1KIT_API_URL";

/// The API client from the environment. A missing variable is an error that names it and says
/// what the command needs it for (`why`: "`d1kit provision --remote` creates the databases
/// through Cloudflare's API"); `help` ends its advice ("`--dry-run` shows the plan without
/// them").
pub fn client(why: &str, help: &str) -> Result<Client, Diagnostics> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (account, token) = (var(ACCOUNT_VAR), var(TOKEN_VAR));
    let (Some(account), Some(token)) = (&account, &token) else {
        let missing: Vec<&str> = [(ACCOUNT_VAR, &account), (TOKEN_VAR, &token)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| n)
            .collect();
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "{} {} not set: {why}, as the account and with the API token these variables give (wrangler reads the same ones)",
            missing.join(" and "),
            if missing.len() == 1 { "is" } else { "are" }
        ))
        .with_help(format!(
            "export {ACCOUNT_VAR}=<your account id> and {TOKEN_VAR}=<an API token with D1 edit permission>; {help}"
        ))]));
    };
    let client = Client::new(account.clone(), token.clone());
    Ok(match var(API_URL_VAR) {
        Some(url) => client.with_base_url(url),
        None => client,
    })
}

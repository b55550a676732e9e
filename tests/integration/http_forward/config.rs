//! `chathook check-config` on a file: each bad endpoint refused naming the endpoint and the
//! key, and no secret (signing secret, credential header, URL password) printed anywhere.

use chathook_tests::process::{APP_TOML, clean_command, write_config};
use chathook_tests::server_binary;

use super::{ROTATED_OUT, SECRET};

/// `chathook check-config` on `[handlers.http_forward]` with one endpoint whose keys are
/// `endpoint` (TOML lines): whether it passed, its standard output and its standard error.
fn check_config(endpoint: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{APP_TOML}\n[handlers.http_forward]\nenabled = true\n\n\
         [[handlers.http_forward.endpoints]]\nname = \"crm\"\n{endpoint}\n"
    );
    let config = write_config(dir.path(), &text);
    let output = clean_command(server_binary!(), dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn each_bad_endpoint_is_refused_naming_the_endpoint_and_the_key() {
    let valid = format!(
        "url = \"https://crm.example.com/hooks\"\ncommands = [\"after\"]\nsecret = \"{SECRET}\""
    );
    let cases = [
        (
            format!("commands = [\"after\"]\nsecret = \"{SECRET}\""),
            "endpoints[crm].url: missing",
        ),
        (
            valid.replace("https://", "ftp://"),
            "endpoints[crm].url: \"ftp://crm.example.com/hooks\" must start with https:// or http://",
        ),
        (
            valid.replace("https://", "https://sync:hunter2@"),
            "endpoints[crm].url: credentials in the URL are refused",
        ),
        (
            valid.replace(SECRET, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "endpoints[crm].secret: not in the Standard Webhooks form whsec_<base64>",
        ),
        (
            format!("{valid}\ndecides = true"),
            "endpoints[crm].decides: true, but commands select Alert.RequestOverLimit, an \
             after-callback",
        ),
        (
            valid.replace("[\"after\"]", "[\"Group.CallbackAfterSendMsg\"]") + "\ndecides = true",
            "endpoints[crm].decides: true, but commands select Group.CallbackAfterSendMsg",
        ),
    ];
    for (endpoint, expected) in cases {
        let (passed, stdout, stderr) = check_config(&endpoint);
        assert!(!passed, "{endpoint}: accepted");
        assert!(
            stderr.contains(&format!(
                "invalid settings in [handlers.http_forward]: {expected}"
            )),
            "{endpoint}:\n{stderr}"
        );
        let printed = format!("{stdout}{stderr}");
        for secret in ["hunter2", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &SECRET[6..]] {
            assert!(
                !printed.contains(secret),
                "{endpoint}: {secret} printed:\n{printed}"
            );
        }
    }
}

#[test]
fn check_config_shows_the_endpoints_with_every_secret_redacted() {
    let endpoint = format!(
        "url = \"https://crm.example.com/hooks\"\ncommands = [\"Group.*\"]\n\
         secrets = [\"{ROTATED_OUT}\", \"{SECRET}\"]\n\
         headers = {{ Authorization = \"Bearer t0k3n-for-crm\", X-Team = \"chat\" }}\n\
         retry_statuses = [409]\nqueue = {{ max_attempts = 3 }}"
    );
    let (passed, stdout, stderr) = check_config(&endpoint);
    assert!(passed, "{stderr}");
    let effective: toml::Value = toml::from_str(
        &stdout
            .lines()
            .map(|line| line.split("  # ").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap_or_else(|error| panic!("{error}:\n{stdout}"));
    let shown = &effective["handlers"]["http_forward"]["endpoints"][0];
    assert_eq!(shown["name"].as_str(), Some("crm"));
    assert_eq!(shown["url"].as_str(), Some("https://crm.example.com/hooks"));
    assert_eq!(
        shown["timeout_ms"].as_integer(),
        Some(5000),
        "defaults are shown"
    );
    assert_eq!(shown["secrets"].as_str(), Some("[redacted]"));
    assert_eq!(
        shown["headers"]["Authorization"].as_str(),
        Some("[redacted]")
    );
    assert_eq!(shown["headers"]["X-Team"].as_str(), Some("chat"));
    let printed = format!("{stdout}{stderr}");
    for secret in [&SECRET[6..], &ROTATED_OUT[6..], "t0k3n-for-crm"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    // The queued endpoint is a destination of its own, with its own policy.
    assert!(
        stderr.contains("queued handler http_forward.crm: max_attempts 3,"),
        "{stderr}"
    );
}

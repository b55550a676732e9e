//! Credentials kept out of what people see: config printouts, error messages, console records.
//!
//! One place for the three shapes the workspace needs, so that a URL form one of them learns
//! (a token without a user, a URL without a scheme) is not missed by the others:
//! [`credentials_in`] for free text that may quote any URL, [`url`] for one URL known to be
//! one, and [`password_of`] for text that may repeat a known URL's password on its own (a
//! driver's error message).

/// What every secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `text` with the credentials of every `scheme://user:password@host` (the password) and
/// `scheme://token@host` (the token) in it replaced. For free text such as a handler's error,
/// which often quotes the URL it could not reach: a URL's authority ends at `/`, `?`, `#`, a
/// quote or white space, so a URL inside a sentence or a quoted string is found too.
pub fn credentials_in(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        redacted.push_str(before);
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                // A user alone is a token (`redis://token@host`), as secret as a password.
                if let Some((user, _password)) = userinfo.split_once(':') {
                    redacted.push_str(user);
                    redacted.push(':');
                }
                redacted.push_str(REDACTED);
                redacted.push('@');
                redacted.push_str(host);
            }
            None => redacted.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    redacted.push_str(rest);
    query_passwords(&redacted)
}

/// `text` with the value of every `password=` parameter replaced (PostgreSQL takes
/// `?password=` as well as `user:password@`), up to the next `&`, `#`, quote or white space.
fn query_passwords(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let value_start = from + found + KEY.len();
        let value_end = text[value_start..]
            .find(|c: char| matches!(c, '&' | '#' | '"' | '\'') || c.is_whitespace())
            .map_or(text.len(), |end| value_start + end);
        if value_end > value_start {
            redacted.push_str(&text[copied..value_start]);
            redacted.push_str(REDACTED);
            copied = value_end;
        }
        from = value_end.max(value_start);
    }
    redacted.push_str(&text[copied..]);
    redacted
}

/// `url` with its password replaced, if it has one: `scheme://user:password@host/...`, or
/// `user:password@host/...` without a scheme. The user stays, so that an error about the URL
/// still says which account was used.
pub fn url(url: &str) -> String {
    query_passwords(&match userinfo(url) {
        Some(UserInfo {
            password_start,
            password_end,
        }) => format!(
            "{}{REDACTED}{}",
            &url[..password_start],
            &url[password_end..]
        ),
        None => url.to_owned(),
    })
}

/// `text` with every occurrence of `url`'s password replaced, if `url` has a non-empty one:
/// for messages (a database driver's, say) that may quote the password apart from the URL.
pub fn password_of(url: &str, text: &str) -> String {
    let mut redacted = match userinfo(url) {
        Some(found) if found.password_end > found.password_start => {
            text.replace(&url[found.password_start..found.password_end], REDACTED)
        }
        _ => text.to_owned(),
    };
    for password in query_password_values(url) {
        redacted = redacted.replace(password, REDACTED);
    }
    query_passwords(&redacted)
}

/// The values of `url`'s `password=` parameters.
fn query_password_values(url: &str) -> Vec<&str> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    query
        .split(['&', '#'])
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.to_ascii_lowercase()
                .ends_with("password")
                .then_some(value)
                .filter(|value| !value.is_empty())
        })
        .collect()
}

/// Where a URL's password is, as byte offsets into the URL.
struct UserInfo {
    password_start: usize,
    password_end: usize,
}

/// The password's place in `url`, if its authority has `user:password@`. Without a scheme the
/// whole text is read as authority and path.
fn userinfo(url: &str) -> Option<UserInfo> {
    let rest_start = url.find("://").map_or(0, |at| at + 3);
    let rest = &url[rest_start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    let password_start = rest_start + user.len() + 1;
    Some(UserInfo {
        password_start,
        password_end: password_start + password.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_wherever_they_are_in_a_text() {
        for (text, redacted) in [
            ("no url here", "no url here"),
            ("http://host:80/path", "http://host:80/path"),
            (
                "a https://u:p@h/x and b redis://tok@r:6379",
                "a https://u:[redacted]@h/x and b redis://[redacted]@r:6379",
            ),
            (
                "ends with mysql://u:p@h",
                "ends with mysql://u:[redacted]@h",
            ),
            (
                "'amqp://guest:guest@localhost'",
                "'amqp://guest:[redacted]@localhost'",
            ),
            (
                "failed: cannot reach nats://s3cret@nats:4222 or postgres://app:pw@db/x",
                "failed: cannot reach nats://[redacted]@nats:4222 or postgres://app:[redacted]@db/x",
            ),
            (
                r#"{"url":"postgres://a:b@h?sslmode=require"}"#,
                r#"{"url":"postgres://a:[redacted]@h?sslmode=require"}"#,
            ),
            // The last `@` of an authority ends its userinfo, as in a URL parser.
            ("s://u:p@ss@h x", "s://u:[redacted]@h x"),
            (
                "cannot open postgres://db/x?password=s3cret (refused)",
                "cannot open postgres://db/x?password=[redacted] (refused)",
            ),
            ("", ""),
            ("://", "://"),
        ] {
            assert_eq!(credentials_in(text), redacted, "{text}");
        }
    }

    #[test]
    fn a_url_keeps_everything_but_its_password() {
        for (given, redacted) in [
            (
                "postgres://app:s3cret@db:5432/chat",
                "postgres://app:[redacted]@db:5432/chat",
            ),
            ("sqlite://data/x.db", "sqlite://data/x.db"),
            ("postgres://app@db/chat", "postgres://app@db/chat"),
            ("app:s3cret@db/chat", "app:[redacted]@db/chat"),
            (
                "mysql://app:s3cret@db/chat",
                "mysql://app:[redacted]@db/chat",
            ),
            // An `@` in the path is not userinfo.
            ("postgres://db/chat@x:y", "postgres://db/chat@x:y"),
            ("postgres://u:@h/db", "postgres://u:[redacted]@h/db"),
            (
                "postgres://db/chat?user=app&password=s3cret&sslmode=require",
                "postgres://db/chat?user=app&password=[redacted]&sslmode=require",
            ),
            (
                "postgres://db/chat?sslpassword=k3y",
                "postgres://db/chat?sslpassword=[redacted]",
            ),
            ("", ""),
        ] {
            assert_eq!(url(given), redacted, "{given}");
        }
    }

    #[test]
    fn a_known_password_is_redacted_wherever_a_text_repeats_it() {
        let url = "postgres://app:s3cret@db:5432/chat";
        assert_eq!(
            password_of(
                url,
                "password authentication failed (s3cret), again: s3cret"
            ),
            "password authentication failed ([redacted]), again: [redacted]"
        );
        assert_eq!(password_of("app:pw@db/x", "bad pw"), "bad [redacted]");
        assert_eq!(
            password_of("postgres://db/x?password=s3cret", "rejected s3cret"),
            "rejected [redacted]"
        );
        for without_password in [
            "postgres://app@db/chat",
            "sqlite://x.db",
            "postgres://u:@h/db",
        ] {
            assert_eq!(
                password_of(without_password, "nothing to hide"),
                "nothing to hide"
            );
        }
    }
}

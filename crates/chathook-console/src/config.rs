//! `[console]`: how many recent callbacks are kept, and whether their bodies are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most records `console.recent` may keep: at a few hundred bytes each, enough for any
/// operator's look, and a list or a resuming stream walks at most this many under the lock
/// callbacks take (about a millisecond).
pub const MAX_RECENT: usize = 100_000;
/// Most bytes of one body `console.body_bytes` may keep.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most memory captured bodies may take: `console.recent` times `console.body_bytes`.
pub const MAX_CAPTURED_BYTES: usize = 256 * 1024 * 1024;

/// The recent-callbacks buffer behind `/api/v1/callbacks`, `chathook tail` and `/console`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// How many of the last callbacks are kept in memory for `/api/v1/callbacks`, its live
    /// stream, `chathook tail` and `/console`, at most 100000; 0 turns all of them off.
    pub recent: usize,
    /// Keep each callback's body in its record (its first `body_bytes` bytes). Off by
    /// default: bodies carry users' messages.
    pub capture_bodies: bool,
    /// Most bytes of a body kept when `capture_bodies` is on: at most 1 MiB, and `recent`
    /// times `body_bytes` at most 256 MiB.
    pub body_bytes: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            recent: 1000,
            capture_bodies: false,
            body_bytes: 4096,
        }
    }
}

impl ConsoleConfig {
    /// The bounds its types cannot say: the buffer's size, and the memory captured bodies
    /// may take.
    pub fn validate(&self) -> Result<(), String> {
        if self.recent > MAX_RECENT {
            return Err(format!(
                "console.recent is {} but must be at most {MAX_RECENT} (0 turns the buffer off)",
                self.recent
            ));
        }
        if !self.capture_bodies {
            return Ok(());
        }
        if !(1..=MAX_BODY_BYTES).contains(&self.body_bytes) {
            return Err(format!(
                "console.body_bytes is {} but must be between 1 and {MAX_BODY_BYTES} when \
                 console.capture_bodies is on",
                self.body_bytes
            ));
        }
        let captured = self.recent.saturating_mul(self.body_bytes);
        if captured > MAX_CAPTURED_BYTES {
            return Err(format!(
                "console.recent ({}) times console.body_bytes ({}) is {} MiB of captured \
                 bodies, more than the {} MiB allowed: keep fewer callbacks or fewer bytes \
                 of each",
                self.recent,
                self.body_bytes,
                captured / (1024 * 1024),
                MAX_CAPTURED_BYTES / (1024 * 1024)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_buffer_is_bounded_with_reasons() {
        let too_many = ConsoleConfig {
            recent: MAX_RECENT + 1,
            ..ConsoleConfig::default()
        };
        let message = too_many.validate().unwrap_err();
        assert!(message.contains("console.recent is 100001 but must be at most 100000"));
        let too_large = ConsoleConfig {
            capture_bodies: true,
            body_bytes: MAX_BODY_BYTES + 1,
            ..ConsoleConfig::default()
        };
        assert!(
            too_large
                .validate()
                .unwrap_err()
                .contains("console.body_bytes is 1048577")
        );
        let too_much = ConsoleConfig {
            recent: 100_000,
            capture_bodies: true,
            body_bytes: 4096,
        };
        let message = too_much.validate().unwrap_err();
        assert!(message.contains("390 MiB of captured bodies"), "{message}");
        let off = ConsoleConfig {
            recent: 0,
            ..ConsoleConfig::default()
        };
        assert_eq!(off.validate(), Ok(()));
    }
}

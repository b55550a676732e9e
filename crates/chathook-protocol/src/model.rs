//! The `model!` macro behind every wire model, and what it needs to keep a body exactly.
//!
//! A model written by hand with `#[derive(Serialize, Deserialize)]` loses two things Tencent's
//! bodies can carry: an explicit `null` in an optional field (read as `None`, then not written
//! at all) and, once code edits `extra`, the uniqueness of keys (`extra` could shadow a typed
//! key and the body would carry it twice). So each model reads through a private wire struct
//! that tells `null` from absent, remembers which optional keys were `null`, keeps `extra`
//! private behind accessors that refuse modelled keys, and writes itself with one map whose
//! keys are each written once.

use serde::{Deserialize, Deserializer};

/// The optional keys of one model that arrived as an explicit `null`, written back as `null`
/// while the field stays `None`. Empty (and allocation-free) for bodies without nulls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Nulls(Vec<&'static str>);

impl Nulls {
    pub(crate) fn insert(&mut self, key: &'static str) {
        self.0.push(key);
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.contains(&key)
    }
}

/// An optional field's value as sent: `null`, or a value.
pub(crate) enum Nullable<T> {
    Null,
    Value(T),
}

/// Reads a present optional field, telling `null` from a value (`serde`'s own `Option` reads
/// both `null` and absent as `None`; absent is the field's `default`).
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Nullable<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let value = Option::<T>::deserialize(deserializer)?;
    Ok(Some(value.map_or(Nullable::Null, Nullable::Value)))
}

/// `insert_extra` was given a key the model types: set the field instead, so the body never
/// carries the key twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} is a typed field of {model}: set the field, not extra")]
pub struct ModelledKey {
    /// The refused key.
    pub key: String,
    /// The model's name.
    pub model: &'static str,
}

/// Declares a wire model. `body` models also carry the optional top-level `CallbackCommand`;
/// `item` models are nested objects. Fields after `?` are optional. Every model keeps
/// unknown keys in a private `extra` map (read with `extra()`, edited with `insert_extra`,
/// which refuses the model's own keys) and writes explicit `null`s back.
macro_rules! model {
    (body $(#[$doc:meta])* $name:ident {
        $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $key:tt ; )*
        $( ? $(#[$odoc:meta])* $ofield:ident : $oty:ty = $okey:tt ; )*
    }) => {
        model!(@struct [] $(#[$doc])* $name {
            $( $(#[$fdoc])* $field : $ty = $key ; )*
            ?
            /// Wire key `CallbackCommand` (absent in `ContentCallback.ResultNotify` and `Push.*` envelopes).
            callback_command : String = "CallbackCommand" ;
            $( ? $(#[$odoc])* $ofield : $oty = $okey ; )*
        });
    };
    // `default`: every field is optional, so an empty model is a valid one to start from.
    (item default $(#[$doc:meta])* $name:ident { $($rest:tt)* }) => {
        model!(@struct [Default] $(#[$doc])* $name { $($rest)* });
    };
    (item $(#[$doc:meta])* $name:ident { $($rest:tt)* }) => {
        model!(@struct [] $(#[$doc])* $name { $($rest)* });
    };
    (@struct [$($derive:ident)?] $(#[$doc:meta])* $name:ident {
        $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $key:tt ; )*
        $( ? $(#[$odoc:meta])* $ofield:ident : $oty:ty = $okey:tt ; )*
    }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq $(, $derive)?)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[doc = concat!("Wire key `", $key, "`.")]
                pub $field: $ty,
            )*
            $(
                $(#[$odoc])*
                #[doc = concat!("Wire key `", $okey, "` (optional).")]
                pub $ofield: Option<$oty>,
            )*
            extra: serde_json::Map<String, serde_json::Value>,
            nulls: $crate::model::Nulls,
        }

        impl $name {
            /// The wire keys this model types.
            pub const KEYS: &'static [&'static str] = &[$($key,)* $($okey,)*];

            /// Fields this crate does not model, kept so that nothing is lost.
            pub fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
                &self.extra
            }

            /// Adds or replaces an unmodelled field; a key in [`Self::KEYS`] is refused, so
            /// the body never carries a key twice.
            pub fn insert_extra(
                &mut self,
                key: impl Into<String>,
                value: serde_json::Value,
            ) -> Result<Option<serde_json::Value>, $crate::model::ModelledKey> {
                let key = key.into();
                if Self::KEYS.contains(&key.as_str()) {
                    return Err($crate::model::ModelledKey { key, model: stringify!($name) });
                }
                Ok(self.extra.insert(key, value))
            }

            /// Removes an unmodelled field.
            pub fn remove_extra(&mut self, key: &str) -> Option<serde_json::Value> {
                self.extra.remove(key)
            }

            /// Whether the optional field `key` arrived as an explicit `null` (it is `None`
            /// and is written back as `null` unless set).
            pub fn was_null(&self, key: &str) -> bool {
                self.nulls.contains(key)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                struct Wire {
                    $( #[serde(rename = $key)] $field: $ty, )*
                    $(
                        #[serde(rename = $okey, default, deserialize_with = "crate::model::nullable")]
                        $ofield: Option<$crate::model::Nullable<$oty>>,
                    )*
                    #[serde(flatten)]
                    extra: serde_json::Map<String, serde_json::Value>,
                }
                let wire = Wire::deserialize(deserializer)?;
                #[allow(unused_mut)] // Models without optional fields never record one.
                let mut nulls = $crate::model::Nulls::default();
                Ok(Self {
                    $( $field: wire.$field, )*
                    $(
                        $ofield: match wire.$ofield {
                            None => None,
                            Some($crate::model::Nullable::Null) => {
                                nulls.insert($okey);
                                None
                            }
                            Some($crate::model::Nullable::Value(value)) => Some(value),
                        },
                    )*
                    extra: wire.extra,
                    nulls,
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut map = serializer.serialize_map(None)?;
                $( map.serialize_entry($key, &self.$field)?; )*
                $(
                    match &self.$ofield {
                        Some(value) => map.serialize_entry($okey, value)?,
                        None if self.nulls.contains($okey) => map.serialize_entry($okey, &())?,
                        None => {}
                    }
                )*
                for (key, value) in &self.extra {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    };
}

//! `MsgBody`: the elements of a message, as callbacks carry them and before-send replies
//! rewrite them.
//!
//! Each element is `{"MsgType": "...", "MsgContent": {...}}`. The eight documented types are
//! typed; any other type (merged/forwarded messages, future ones), or an element with keys
//! besides `MsgType`/`MsgContent`, is kept as [`MsgElem::Unknown`] and written back untouched.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::scalar::{Int, UInt};

/// A message body: its elements in order.
pub type MsgBody = Vec<MsgElem>;

/// One message element.
#[derive(Clone, Debug, PartialEq)]
pub enum MsgElem {
    /// `TIMTextElem`.
    Text(TextElem),
    /// `TIMLocationElem`.
    Location(LocationElem),
    /// `TIMFaceElem`.
    Face(FaceElem),
    /// `TIMCustomElem`.
    Custom(CustomElem),
    /// `TIMSoundElem`.
    Sound(SoundElem),
    /// `TIMImageElem`.
    Image(ImageElem),
    /// `TIMFileElem`.
    File(FileElem),
    /// `TIMVideoFileElem`.
    Video(VideoFileElem),
    /// Any other element, kept as the raw JSON object.
    Unknown(Value),
}

impl MsgElem {
    /// A text element.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextElem {
            text: text.into(),
            extra: Map::new(),
        })
    }

    /// The `MsgType` string.
    pub fn msg_type(&self) -> &str {
        match self {
            Self::Text(_) => "TIMTextElem",
            Self::Location(_) => "TIMLocationElem",
            Self::Face(_) => "TIMFaceElem",
            Self::Custom(_) => "TIMCustomElem",
            Self::Sound(_) => "TIMSoundElem",
            Self::Image(_) => "TIMImageElem",
            Self::File(_) => "TIMFileElem",
            Self::Video(_) => "TIMVideoFileElem",
            Self::Unknown(raw) => raw.get("MsgType").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

impl Serialize for MsgElem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn pair<S: Serializer, T: Serialize>(
            s: S,
            kind: &str,
            content: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry("MsgType", kind)?;
            map.serialize_entry("MsgContent", content)?;
            map.end()
        }
        let kind = self.msg_type();
        match self {
            Self::Text(c) => pair(serializer, kind, c),
            Self::Location(c) => pair(serializer, kind, c),
            Self::Face(c) => pair(serializer, kind, c),
            Self::Custom(c) => pair(serializer, kind, c),
            Self::Sound(c) => pair(serializer, kind, c),
            Self::Image(c) => pair(serializer, kind, c),
            Self::File(c) => pair(serializer, kind, c),
            Self::Video(c) => pair(serializer, kind, c),
            Self::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MsgElem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let Some(object) = raw.as_object() else {
            return Err(de::Error::custom("a message element must be a JSON object"));
        };
        let only_type_and_content = object.len() == 2
            && object.contains_key("MsgType")
            && object.contains_key("MsgContent");
        let kind = object.get("MsgType").and_then(Value::as_str);
        let (Some(kind), true) = (kind, only_type_and_content) else {
            return Ok(Self::Unknown(raw));
        };
        let content = &object["MsgContent"];
        // The element's own path (`MsgBody[1]`) comes from the caller's path tracking; this
        // adds the part inside the element.
        fn typed<T: for<'a> Deserialize<'a>, E: de::Error>(content: &Value) -> Result<T, E> {
            serde_path_to_error::deserialize(content)
                .map_err(|e| E::custom(format_args!("MsgContent.{}: {}", e.path(), e.inner())))
        }
        Ok(match kind {
            "TIMTextElem" => Self::Text(typed(content)?),
            "TIMLocationElem" => Self::Location(typed(content)?),
            "TIMFaceElem" => Self::Face(typed(content)?),
            "TIMCustomElem" => Self::Custom(typed(content)?),
            "TIMSoundElem" => Self::Sound(typed(content)?),
            "TIMImageElem" => Self::Image(typed(content)?),
            "TIMFileElem" => Self::File(typed(content)?),
            "TIMVideoFileElem" => Self::Video(typed(content)?),
            _ => Self::Unknown(raw),
        })
    }
}

/// `TIMTextElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextElem {
    /// The text.
    #[serde(rename = "Text")]
    pub text: String,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMLocationElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationElem {
    /// Description of the place.
    #[serde(rename = "Desc", default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Latitude, as sent: a JSON number keeps its form (`22` stays `22`, not `22.0`), so the
    /// element writes back exactly; `as_f64()` reads it.
    #[serde(rename = "Latitude", default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<serde_json::Number>,
    /// Longitude, as sent (see `latitude`).
    #[serde(rename = "Longitude", default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<serde_json::Number>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMFaceElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceElem {
    /// Emoji index.
    #[serde(rename = "Index", default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Int>,
    /// Extra data.
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMCustomElem` content (all strings; `Data` is often JSON text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomElem {
    /// Payload.
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Description.
    #[serde(rename = "Desc", default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Extension.
    #[serde(rename = "Ext", default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    /// Push sound.
    #[serde(rename = "Sound", default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMSoundElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoundElem {
    /// Download URL.
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// File id.
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Size in bytes.
    #[serde(rename = "Size", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<UInt>,
    /// Duration in seconds.
    #[serde(rename = "Second", default, skip_serializing_if = "Option::is_none")]
    pub second: Option<UInt>,
    /// Download flag.
    #[serde(
        rename = "Download_Flag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_flag: Option<Int>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMImageElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageElem {
    /// Image id.
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Format code.
    #[serde(
        rename = "ImageFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_format: Option<Int>,
    /// Original, large and thumbnail renditions.
    #[serde(
        rename = "ImageInfoArray",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_info_array: Option<Vec<ImageInfo>>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One rendition in `ImageInfoArray`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1 original, 2 large, 3 thumbnail.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Int>,
    /// Size in bytes.
    #[serde(rename = "Size", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<UInt>,
    /// Width in pixels.
    #[serde(rename = "Width", default, skip_serializing_if = "Option::is_none")]
    pub width: Option<UInt>,
    /// Height in pixels.
    #[serde(rename = "Height", default, skip_serializing_if = "Option::is_none")]
    pub height: Option<UInt>,
    /// Download URL.
    #[serde(rename = "URL", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMFileElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileElem {
    /// Download URL.
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// File id.
    #[serde(rename = "UUID", default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Size in bytes.
    #[serde(rename = "FileSize", default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<UInt>,
    /// File name.
    #[serde(rename = "FileName", default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Download flag.
    #[serde(
        rename = "Download_Flag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_flag: Option<Int>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TIMVideoFileElem` content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // Field names say it all: the video's and its thumbnail's file facts.
pub struct VideoFileElem {
    #[serde(rename = "VideoUrl", default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(rename = "VideoUUID", default, skip_serializing_if = "Option::is_none")]
    pub video_uuid: Option<String>,
    #[serde(rename = "VideoSize", default, skip_serializing_if = "Option::is_none")]
    pub video_size: Option<UInt>,
    #[serde(
        rename = "VideoSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub video_second: Option<UInt>,
    #[serde(
        rename = "VideoFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub video_format: Option<String>,
    #[serde(
        rename = "VideoDownloadFlag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub video_download_flag: Option<Int>,
    #[serde(rename = "ThumbUrl", default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    #[serde(rename = "ThumbUUID", default, skip_serializing_if = "Option::is_none")]
    pub thumb_uuid: Option<String>,
    #[serde(rename = "ThumbSize", default, skip_serializing_if = "Option::is_none")]
    pub thumb_size: Option<UInt>,
    #[serde(
        rename = "ThumbWidth",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_width: Option<UInt>,
    #[serde(
        rename = "ThumbHeight",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_height: Option<UInt>,
    #[serde(
        rename = "ThumbFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_format: Option<String>,
    #[serde(
        rename = "ThumbDownloadFlag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thumb_download_flag: Option<Int>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_writes_back_its_numbers_as_sent() {
        let sent = serde_json::json!([
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": 22, "Longitude": 113.94}}
        ]);
        let body: MsgBody = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap(), sent);
    }
    use serde_json::json;

    #[test]
    fn every_documented_element_types_and_round_trips() {
        let body = json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "office", "Latitude": 22.5, "Longitude": 113.9}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "content"}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "d", "Ext": "", "Sound": "dingdong.aiff"}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://x/s", "UUID": "u", "Size": 62351, "Second": 1, "Download_Flag": 2}},
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "i", "ImageFormat": 1, "ImageInfoArray": [
                {"Type": 1, "Size": 1853095, "Width": 2448, "Height": 3264, "URL": "https://x/1"}]}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x/f", "UUID": "f", "FileSize": "1773552", "FileName": "a.txt", "Download_Flag": 2}},
            {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "https://x/v", "VideoUUID": "v", "VideoSize": 1, "VideoSecond": 5,
                "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "https://x/t", "ThumbUUID": "t", "ThumbSize": 2,
                "ThumbWidth": 720, "ThumbHeight": 1280, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2}},
            {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "forwarded", "MsgList": []}},
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}, "Extra": 1}
        ]);
        let parsed: MsgBody = serde_json::from_value(body.clone()).unwrap();
        let kinds: Vec<&str> = parsed.iter().map(MsgElem::msg_type).collect();
        assert_eq!(
            kinds[..8],
            [
                "TIMTextElem",
                "TIMLocationElem",
                "TIMFaceElem",
                "TIMCustomElem",
                "TIMSoundElem",
                "TIMImageElem",
                "TIMFileElem",
                "TIMVideoFileElem"
            ]
        );
        assert!(matches!(&parsed[8], MsgElem::Unknown(_)));
        assert!(matches!(&parsed[9], MsgElem::Unknown(_)));
        let MsgElem::File(file) = &parsed[6] else {
            panic!("not a file")
        };
        assert_eq!(file.file_size.map(|s| s.value), Some(1_773_552));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    }

    #[test]
    fn a_bad_known_element_names_the_field() {
        let body = json!([{"MsgType": "TIMSoundElem", "MsgContent": {"Size": "big"}}]);
        let error = serde_json::from_value::<MsgBody>(body)
            .unwrap_err()
            .to_string();
        assert!(error.contains("MsgContent.Size"), "{error}");
    }
}

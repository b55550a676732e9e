//! `MsgBody`: the elements of a message, as callbacks carry them and before-send replies
//! rewrite them.
//!
//! Each element is `{"MsgType": "...", "MsgContent": {...}}`. The eight documented types are
//! typed; any other type (merged/forwarded messages, future ones), an element with keys
//! besides `MsgType`/`MsgContent`, or a documented one whose content does not fit its type,
//! is kept as [`MsgElem::Unknown`] and written back untouched.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::scalar::{Int, UInt};

/// A message body: its elements in order.
pub type MsgBody = Vec<MsgElem>;

/// One message element.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
    /// Any other element, kept as the raw JSON object: an undocumented `MsgType`, an element
    /// with keys besides `MsgType`/`MsgContent`, or a documented one whose content does not
    /// fit its type (or would not write back exactly as sent).
    Unknown(Value),
}

impl MsgElem {
    /// A text element.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextElem {
            text: text.into(),
            extra: Map::new(),
            nulls: Default::default(),
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
        let typed = match kind {
            "TIMTextElem" => exact(content, &raw, Self::Text),
            "TIMLocationElem" => exact(content, &raw, Self::Location),
            "TIMFaceElem" => exact(content, &raw, Self::Face),
            "TIMCustomElem" => exact(content, &raw, Self::Custom),
            "TIMSoundElem" => exact(content, &raw, Self::Sound),
            "TIMImageElem" => exact(content, &raw, Self::Image),
            "TIMFileElem" => exact(content, &raw, Self::File),
            "TIMVideoFileElem" => exact(content, &raw, Self::Video),
            _ => None,
        };
        Ok(typed.unwrap_or(Self::Unknown(raw)))
    }
}

/// `content` typed as the element `wrap` makes, if it fits the type and writes back as `raw`
/// exactly; else `None`, and the element is kept untyped. One odd element (`"ImageFormat":
/// "JPG"`, a text that is not a string) then neither fails the whole callback nor changes
/// when the body is written back: a before-send handler still sees the rest of the message.
fn exact<'a, T: Deserialize<'a>>(
    content: &'a Value,
    raw: &Value,
    wrap: fn(T) -> MsgElem,
) -> Option<MsgElem> {
    let element = wrap(T::deserialize(content).ok()?);
    (serde_json::to_value(&element).ok()? == *raw).then_some(element)
}

model!(item
/// `TIMTextElem` content.
TextElem {
    /// The text.
    text: String = "Text";
});
model!(item default
/// `TIMLocationElem` content. Latitude and longitude are kept as sent: a JSON number keeps
/// its form (`22` stays `22`, not `22.0`), so the element writes back exactly; `as_f64()`
/// reads them.
LocationElem {
    ? /// Description of the place.
    desc: String = "Desc";
    ? latitude: serde_json::Number = "Latitude";
    ? longitude: serde_json::Number = "Longitude";
});
model!(item default
/// `TIMFaceElem` content.
FaceElem {
    ? /// Emoji index.
    index: Int = "Index";
    ? data: String = "Data";
});
model!(item default
/// `TIMCustomElem` content (all strings; `Data` is often JSON text).
CustomElem {
    ? /// Payload.
    data: String = "Data";
    ? desc: String = "Desc";
    ? /// Extension.
    ext: String = "Ext";
    ? /// Push sound.
    sound: String = "Sound";
});
model!(item default
/// `TIMSoundElem` content.
SoundElem {
    ? /// Download URL.
    url: String = "Url";
    ? /// File id.
    uuid: String = "UUID";
    ? /// Size in bytes.
    size: UInt = "Size";
    ? /// Duration in seconds.
    second: UInt = "Second";
    ? download_flag: Int = "Download_Flag";
});
model!(item default
/// `TIMImageElem` content.
ImageElem {
    ? /// Image id.
    uuid: String = "UUID";
    ? /// Format code.
    image_format: Int = "ImageFormat";
    ? /// Original, large and thumbnail renditions.
    image_info_array: Vec<ImageInfo> = "ImageInfoArray";
});
model!(item default
/// One rendition in `ImageInfoArray`.
ImageInfo {
    ? /// 1 original, 2 large, 3 thumbnail.
    kind: Int = "Type";
    ? /// Size in bytes.
    size: UInt = "Size";
    ? /// Width in pixels.
    width: UInt = "Width";
    ? /// Height in pixels.
    height: UInt = "Height";
    ? /// Download URL.
    url: String = "URL";
});
model!(item default
/// `TIMFileElem` content.
FileElem {
    ? /// Download URL.
    url: String = "Url";
    ? /// File id.
    uuid: String = "UUID";
    ? /// Size in bytes.
    file_size: UInt = "FileSize";
    ? file_name: String = "FileName";
    ? download_flag: Int = "Download_Flag";
});
model!(item default
/// `TIMVideoFileElem` content: the video's and its thumbnail's file facts.
VideoFileElem {
    ? video_url: String = "VideoUrl";
    ? video_uuid: String = "VideoUUID";
    ? video_size: UInt = "VideoSize";
    ? video_second: UInt = "VideoSecond";
    ? video_format: String = "VideoFormat";
    ? video_download_flag: Int = "VideoDownloadFlag";
    ? thumb_url: String = "ThumbUrl";
    ? thumb_uuid: String = "ThumbUUID";
    ? thumb_size: UInt = "ThumbSize";
    ? thumb_width: UInt = "ThumbWidth";
    ? thumb_height: UInt = "ThumbHeight";
    ? thumb_format: String = "ThumbFormat";
    ? thumb_download_flag: Int = "ThumbDownloadFlag";
});

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
    fn d3_a_badly_typed_known_element_is_kept_untyped_and_the_rest_typed() {
        let bad = [
            json!({"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": "JPG"}}),
            json!({"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": "22.5", "Longitude": 1}}),
            json!({"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1.0, "Data": "d"}}),
            json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": 42}}),
            json!({"MsgType": "TIMTextElem", "MsgContent": {}}),
            json!({"MsgType": "TIMSoundElem", "MsgContent": {"Size": "big"}}),
        ];
        for element in bad {
            let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}, element]);
            let parsed: MsgBody = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(parsed[0], MsgElem::text("hi"), "{body}");
            assert_eq!(parsed[1], MsgElem::Unknown(body[1].clone()), "{body}");
            assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        }
        // Not an object at all is still refused: there is no element to keep.
        assert!(serde_json::from_value::<MsgBody>(json!([42])).is_err());
    }
}

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of blob an upload holds: named by the client (any case) or inferred from the
/// MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlobType {
    Image,
    Video,
    Audio,
    Text,
    Pdf,
    Json,
    Document,
    Spreadsheet,
    Presentation,
    Archive,
    Binary,
}

impl BlobType {
    pub const ALL: [BlobType; 11] = [
        BlobType::Image,
        BlobType::Video,
        BlobType::Audio,
        BlobType::Text,
        BlobType::Pdf,
        BlobType::Json,
        BlobType::Document,
        BlobType::Spreadsheet,
        BlobType::Presentation,
        BlobType::Archive,
        BlobType::Binary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlobType::Image => "IMAGE",
            BlobType::Video => "VIDEO",
            BlobType::Audio => "AUDIO",
            BlobType::Text => "TEXT",
            BlobType::Pdf => "PDF",
            BlobType::Json => "JSON",
            BlobType::Document => "DOCUMENT",
            BlobType::Spreadsheet => "SPREADSHEET",
            BlobType::Presentation => "PRESENTATION",
            BlobType::Archive => "ARCHIVE",
            BlobType::Binary => "BINARY",
        }
    }

    /// A blob type named in any case (`image`, `Image`, `IMAGE`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The blob type a MIME type suggests.
    pub fn for_mime(mime: &mime::Mime) -> Self {
        let subtype = mime.subtype().as_str();
        let suffix = mime.suffix().map(|s| s.as_str());
        match mime.type_().as_str() {
            "image" => BlobType::Image,
            "video" => BlobType::Video,
            "audio" => BlobType::Audio,
            "text" if subtype == "csv" => BlobType::Spreadsheet,
            "text" => BlobType::Text,
            "application" => match subtype {
                "pdf" => BlobType::Pdf,
                "json" | "ld+json" => BlobType::Json,
                _ if suffix == Some("json") => BlobType::Json,
                "xml" | "yaml" | "x-yaml" | "javascript" | "x-sh" | "sql" => BlobType::Text,
                "msword"
                | "rtf"
                | "vnd.openxmlformats-officedocument.wordprocessingml.document"
                | "vnd.oasis.opendocument.text" => BlobType::Document,
                "vnd.ms-excel"
                | "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                | "vnd.oasis.opendocument.spreadsheet" => BlobType::Spreadsheet,
                "vnd.ms-powerpoint"
                | "vnd.openxmlformats-officedocument.presentationml.presentation"
                | "vnd.oasis.opendocument.presentation" => BlobType::Presentation,
                "zip" | "gzip" | "x-tar" | "x-7z-compressed" | "x-bzip2" | "x-xz" | "zstd" => BlobType::Archive,
                _ => BlobType::Binary,
            },
            _ => BlobType::Binary,
        }
    }
}

impl fmt::Display for BlobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &str) -> BlobType {
        BlobType::for_mime(&s.parse().unwrap())
    }

    #[test]
    fn infers_from_mime_type() {
        assert_eq!(of("image/png"), BlobType::Image);
        assert_eq!(of("video/mp4"), BlobType::Video);
        assert_eq!(of("audio/mpeg"), BlobType::Audio);
        assert_eq!(of("text/plain; charset=utf-8"), BlobType::Text);
        assert_eq!(of("application/pdf"), BlobType::Pdf);
        assert_eq!(of("application/geo+json"), BlobType::Json);
        assert_eq!(
            of("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            BlobType::Document
        );
        assert_eq!(of("text/csv"), BlobType::Spreadsheet);
        assert_eq!(of("application/zip"), BlobType::Archive);
        assert_eq!(of("application/octet-stream"), BlobType::Binary);
    }

    #[test]
    fn names_parse_in_any_case_and_serialize_as_the_contract_writes_them() {
        assert_eq!(BlobType::parse("image"), Some(BlobType::Image));
        assert_eq!(BlobType::parse("Spreadsheet"), Some(BlobType::Spreadsheet));
        assert_eq!(BlobType::parse("HOLOGRAM"), None);
        for t in BlobType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}

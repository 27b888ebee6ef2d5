/// The blob types a client may name; `blob_type_for` picks one from a MIME type when the
/// client names none.
pub const BLOB_TYPES: &[&str] = &[
    "IMAGE",
    "VIDEO",
    "AUDIO",
    "TEXT",
    "PDF",
    "JSON",
    "DOCUMENT",
    "SPREADSHEET",
    "PRESENTATION",
    "ARCHIVE",
    "BINARY",
];

pub fn blob_type_for(mime: &mime::Mime) -> &'static str {
    let subtype = mime.subtype().as_str();
    let suffix = mime.suffix().map(|s| s.as_str());
    match mime.type_().as_str() {
        "image" => "IMAGE",
        "video" => "VIDEO",
        "audio" => "AUDIO",
        "text" if subtype == "csv" => "SPREADSHEET",
        "text" => "TEXT",
        "application" => match subtype {
            "pdf" => "PDF",
            "json" | "ld+json" => "JSON",
            _ if suffix == Some("json") => "JSON",
            "xml" | "yaml" | "x-yaml" | "javascript" | "x-sh" | "sql" => "TEXT",
            "msword"
            | "rtf"
            | "vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "vnd.oasis.opendocument.text" => "DOCUMENT",
            "vnd.ms-excel"
            | "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "vnd.oasis.opendocument.spreadsheet" => "SPREADSHEET",
            "vnd.ms-powerpoint"
            | "vnd.openxmlformats-officedocument.presentationml.presentation"
            | "vnd.oasis.opendocument.presentation" => "PRESENTATION",
            "zip" | "gzip" | "x-tar" | "x-7z-compressed" | "x-bzip2" | "x-xz" | "zstd" => "ARCHIVE",
            _ => "BINARY",
        },
        _ => "BINARY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &str) -> &'static str {
        blob_type_for(&s.parse().unwrap())
    }

    #[test]
    fn infers_from_mime_type() {
        assert_eq!(of("image/png"), "IMAGE");
        assert_eq!(of("video/mp4"), "VIDEO");
        assert_eq!(of("audio/mpeg"), "AUDIO");
        assert_eq!(of("text/plain; charset=utf-8"), "TEXT");
        assert_eq!(of("application/pdf"), "PDF");
        assert_eq!(of("application/geo+json"), "JSON");
        assert_eq!(
            of("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            "DOCUMENT"
        );
        assert_eq!(of("text/csv"), "SPREADSHEET");
        assert_eq!(of("application/zip"), "ARCHIVE");
        assert_eq!(of("application/octet-stream"), "BINARY");
        for t in ["image/png", "text/csv", "application/x-unknown"] {
            assert!(BLOB_TYPES.contains(&of(t)));
        }
    }
}

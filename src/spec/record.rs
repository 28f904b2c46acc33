//! RECORD files: CSV rows of `path,algorithm=urlsafe-b64-digest,size`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use sha2::Digest as _;

/// A problem in a RECORD file, with the 1-based row it was found on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("RECORD row {row}: {reason}")]
    Row { row: usize, reason: String },
    #[error("RECORD is not valid CSV: {0}")]
    Csv(String),
    #[error("RECORD lists `{path}` twice (rows {first} and {second})")]
    Duplicate {
        path: String,
        first: usize,
        second: usize,
    },
}

/// Why a RECORD hash (`algorithm=digest`) cannot be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidHash {
    #[error("the hash `{0}` is not of the form algorithm=digest")]
    NotAHash(String),
    #[error("the hash algorithm `{0}` is too weak and not allowed in RECORD")]
    TooWeak(String),
    #[error("the hash algorithm `{0}` is not supported")]
    Unsupported(String),
    #[error("the digest `{0}` is not urlsafe base64")]
    NotBase64(String),
    #[error("the {} digest `{digest}` has {length} bytes, expected {expected}", algorithm.name())]
    WrongLength {
        algorithm: HashAlgorithm,
        digest: String,
        length: usize,
        expected: usize,
    },
}

/// The hash algorithms a RECORD may use. PEP 427 forbids md5 and sha1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// A streaming hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// Incremental hashing for any [`HashAlgorithm`].
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(hasher) => hasher.update(bytes),
            Hasher::Sha384(hasher) => hasher.update(bytes),
            Hasher::Sha512(hasher) => hasher.update(bytes),
        }
    }

    pub fn finish(self) -> RecordHash {
        match self {
            Hasher::Sha256(hasher) => RecordHash {
                algorithm: HashAlgorithm::Sha256,
                digest: hasher.finalize().to_vec(),
            },
            Hasher::Sha384(hasher) => RecordHash {
                algorithm: HashAlgorithm::Sha384,
                digest: hasher.finalize().to_vec(),
            },
            Hasher::Sha512(hasher) => RecordHash {
                algorithm: HashAlgorithm::Sha512,
                digest: hasher.finalize().to_vec(),
            },
        }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `sha256=<urlsafe base64 without padding>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHash {
    pub algorithm: HashAlgorithm,
    pub digest: Vec<u8>,
}

impl RecordHash {
    /// The sha256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        RecordHash {
            algorithm: HashAlgorithm::Sha256,
            digest: sha2::Sha256::digest(bytes).to_vec(),
        }
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}",
            self.algorithm.name(),
            URL_SAFE_NO_PAD.encode(&self.digest)
        )
    }
}

impl FromStr for RecordHash {
    type Err = InvalidHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (algorithm, encoded) = text
            .split_once('=')
            .ok_or_else(|| InvalidHash::NotAHash(text.to_string()))?;
        let (algorithm, length) = match algorithm.to_ascii_lowercase().as_str() {
            "sha256" => (HashAlgorithm::Sha256, 32),
            "sha384" => (HashAlgorithm::Sha384, 48),
            "sha512" => (HashAlgorithm::Sha512, 64),
            "md5" | "sha1" => return Err(InvalidHash::TooWeak(algorithm.to_string())),
            _ => return Err(InvalidHash::Unsupported(algorithm.to_string())),
        };
        // Some tools pad the digest, and uv_build 0.7 writes it in hex (a sha256 in 64 hex
        // digits, which as base64 would be 48 bytes, no sha256): accept those forms, write the
        // unpadded urlsafe base64 one.
        let digest = match hex_digest(encoded, length) {
            Some(digest) => digest,
            None => URL_SAFE_NO_PAD
                .decode(encoded)
                .or_else(|_| URL_SAFE.decode(encoded))
                .map_err(|_| InvalidHash::NotBase64(encoded.to_string()))?,
        };
        if digest.len() != length {
            return Err(InvalidHash::WrongLength {
                algorithm,
                digest: encoded.to_string(),
                length: digest.len(),
                expected: length,
            });
        }
        Ok(RecordHash { algorithm, digest })
    }
}

/// A digest of `length` bytes written as `2 * length` hex digits, decoded.
fn hex_digest(encoded: &str, length: usize) -> Option<Vec<u8>> {
    if encoded.len() != 2 * length || !encoded.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..length)
        .map(|index| u8::from_str_radix(&encoded[2 * index..2 * index + 2], 16).ok())
        .collect()
}

/// One row of RECORD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    pub path: String,
    pub hash: Option<RecordHash>,
    pub size: Option<u64>,
}

/// A parsed RECORD, rows in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub entries: Vec<RecordEntry>,
}

/// Whether a `.dist-info` member is RECORD itself or one of its signatures, which carry no
/// hash of their own.
pub fn is_record_or_signature(path: &str, dist_info: &str) -> bool {
    path.strip_prefix(dist_info)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| matches!(file, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
}

impl Record {
    /// Parses RECORD bytes. Blank lines are skipped; each row must have three columns.
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut entries = Vec::new();
        let mut rows_by_path = std::collections::HashMap::new();
        for (index, row) in reader.byte_records().enumerate() {
            let row_number = index + 1;
            let row = row.map_err(|err| RecordError::Csv(err.to_string()))?;
            let fail = |reason: String| RecordError::Row {
                row: row_number,
                reason,
            };
            if row.len() != 3 {
                return Err(fail(format!(
                    "expected 3 columns (path,hash,size), found {}",
                    row.len()
                )));
            }
            let path = std::str::from_utf8(&row[0])
                .map_err(|_| fail("the path is not UTF-8".to_string()))?
                .to_string();
            if path.is_empty() {
                return Err(fail("the path is empty".to_string()));
            }
            let hash_text =
                std::str::from_utf8(&row[1]).map_err(|_| fail("the hash is not UTF-8".to_string()))?;
            let hash = if hash_text.is_empty() {
                None
            } else {
                Some(
                    hash_text
                        .parse()
                        .map_err(|err| fail(format!("`{path}`: {err}")))?,
                )
            };
            let size_text =
                std::str::from_utf8(&row[2]).map_err(|_| fail("the size is not UTF-8".to_string()))?;
            let size = if size_text.is_empty() {
                None
            } else {
                Some(
                    size_text
                        .trim()
                        .parse()
                        .map_err(|_| fail(format!("`{path}`: the size `{size_text}` is not a number")))?,
                )
            };
            if let Some(first) = rows_by_path.insert(path.clone(), row_number) {
                return Err(RecordError::Duplicate {
                    path,
                    first,
                    second: row_number,
                });
            }
            entries.push(RecordEntry { path, hash, size });
        }
        Ok(Record { entries })
    }

    /// Renders RECORD the way `wheel` and pip write it: minimal quoting, `\n` line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::with_capacity(self.entries.len() * 96));
        for entry in &self.entries {
            let hash = entry.hash.as_ref().map(ToString::to_string).unwrap_or_default();
            let size = entry.size.map(|size| size.to_string()).unwrap_or_default();
            // Writing to a Vec cannot fail.
            let _ = writer.write_record([entry.path.as_str(), hash.as_str(), size.as_str()]);
        }
        writer.into_inner().unwrap_or_default()
    }

    /// The entry for `path`, if listed.
    pub fn get(&self, path: &str) -> Option<&RecordEntry> {
        self.entries.iter().find(|entry| entry.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hex_digest_as_uv_build_0_7_writes_it_is_read_and_written_back_in_base64() {
        let bytes = b"print('hi')\n";
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let parsed: RecordHash = format!("sha256={hex}").parse().unwrap();
        assert_eq!(parsed, RecordHash::sha256(bytes));
        assert_eq!(parsed.to_string(), RecordHash::sha256(bytes).to_string());
        assert!(!parsed.to_string().contains(&hex));
        // Hex of the wrong length is still an error.
        assert!(format!("sha256={}", &hex[..62]).parse::<RecordHash>().is_err());
    }

    #[test]
    fn hashes_render_urlsafe_without_padding() {
        let hash = RecordHash::sha256(b"hello\n");
        assert_eq!(
            hash.to_string(),
            "sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM"
        );
        assert_eq!(hash.to_string().parse::<RecordHash>().unwrap(), hash);
        let padded = "sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM=";
        assert_eq!(padded.parse::<RecordHash>().unwrap(), hash);
    }

    #[test]
    fn rejects_weak_or_broken_hashes() {
        assert!(
            "md5=abc"
                .parse::<RecordHash>()
                .unwrap_err()
                .to_string()
                .contains("too weak")
        );
        assert!(
            "sha256=abc"
                .parse::<RecordHash>()
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
        assert!("sha256=!!".parse::<RecordHash>().is_err());
        assert!("nohash".parse::<RecordHash>().is_err());
    }

    #[test]
    fn round_trips_quoted_paths() {
        let text = "pkg/__init__.py,sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM,6\n\"pkg/a,b.txt\",sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM,6\n\"pkg/say \"\"hi\"\".txt\",sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM,6\npkg-1.0.dist-info/RECORD,,\n";
        let record = Record::parse(text.as_bytes()).unwrap();
        assert_eq!(record.entries[1].path, "pkg/a,b.txt");
        assert_eq!(record.entries[2].path, "pkg/say \"hi\".txt");
        assert_eq!(record.entries[3].hash, None);
        assert_eq!(record.entries[3].size, None);
        assert_eq!(String::from_utf8(record.to_bytes()).unwrap(), text);
    }

    #[test]
    fn reports_bad_rows() {
        let error =
            Record::parse(b"a,sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM,6\nb,,x\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "RECORD row 2: `b`: the size `x` is not a number"
        );
        let error = Record::parse(b"a,,\na,,\n").unwrap_err();
        assert_eq!(error.to_string(), "RECORD lists `a` twice (rows 1 and 2)");
        let error = Record::parse(b"a,\n").unwrap_err();
        assert!(error.to_string().contains("3 columns"), "{error}");
    }

    #[test]
    fn knows_signatures() {
        assert!(is_record_or_signature("a-1.dist-info/RECORD", "a-1.dist-info"));
        assert!(is_record_or_signature(
            "a-1.dist-info/RECORD.jws",
            "a-1.dist-info"
        ));
        assert!(!is_record_or_signature("a-1.dist-info/METADATA", "a-1.dist-info"));
        assert!(!is_record_or_signature("b/RECORD", "a-1.dist-info"));
    }
}

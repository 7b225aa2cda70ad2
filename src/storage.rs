//! Where blobs (call recordings) are kept: a local directory by default, or an S3 bucket under a
//! prefix (`LOQUENT_STORAGE_URL=s3://bucket/prefix`), both through `object_store`.
//!
//! Keys are relative paths like `{org_id}/recordings/{call_sid}.mp3`; the organization's id comes
//! first so that one organization's objects share a prefix. Reads stream (a whole range is never
//! buffered here), so a recording can be served with HTTP Range requests.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

use crate::config::{S3, StorageLocation};

/// Something went wrong talking to the storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage is not usable: {0}")]
    Setup(String),
    #[error("no stored object {0}")]
    NotFound(String),
    #[error("storage failed on {key}: {source}")]
    Backend {
        key: String,
        #[source]
        source: object_store::Error,
    },
}

/// A stored object being read: its size and last change, the byte range returned, and the bytes
/// as a stream.
pub struct StoredObject {
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// The blob store. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.store)
    }
}

/// Where a call's recording is stored.
pub fn recording_key(org_id: Uuid, call_sid: &str) -> String {
    format!("{org_id}/recordings/{call_sid}.mp3")
}

/// Where a web call's recording, a WAV made here, is stored.
pub fn web_recording_key(org_id: Uuid, call_sid: &str) -> String {
    format!("{org_id}/recordings/{call_sid}.wav")
}

/// The media type of the recording stored under `key`.
pub fn recording_content_type(key: &str) -> &'static str {
    if key.ends_with(".wav") {
        "audio/wav"
    } else {
        "audio/mpeg"
    }
}

impl Storage {
    /// Opens `location`; a local directory is created when missing.
    pub fn open(location: &StorageLocation, s3: &S3) -> Result<Self, StorageError> {
        match location {
            StorageLocation::Local(dir) => Self::local(dir),
            StorageLocation::S3 { bucket, prefix } => Self::s3(bucket, prefix, s3),
        }
    }

    pub fn local(dir: &std::path::Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Setup(format!(
                "cannot create the directory {}: {e}",
                dir.display()
            ))
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| StorageError::Setup(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    fn s3(bucket: &str, prefix: &str, s3: &S3) -> Result<Self, StorageError> {
        // The environment's AWS_* settings (and the instance's role) fill what is not configured.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&s3.s3_region);
        if let Some(endpoint) = &s3.s3_endpoint {
            // An S3-compatible server (MinIO, a test server) may well be plain http.
            builder = builder
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .with_allow_http(endpoint.scheme() == "http");
        }
        if let Some(key_id) = &s3.s3_access_key_id {
            builder = builder.with_access_key_id(key_id);
        }
        if let Some(secret) = &s3.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::Setup(format!("S3 bucket {bucket}: {e}")))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Self { store })
    }

    fn path(key: &str) -> Result<Path, StorageError> {
        Path::parse(key).map_err(|e| StorageError::Setup(format!("invalid key {key}: {e}")))
    }

    fn backend(key: &str) -> impl FnOnce(object_store::Error) -> StorageError + '_ {
        move |source| match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_owned()),
            source => StorageError::Backend {
                key: key.to_owned(),
                source,
            },
        }
    }

    /// Stores `bytes` under `key`, replacing what was there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Self::path(key)?, PutPayload::from(bytes))
            .await
            .map_err(Self::backend(key))?;
        Ok(())
    }

    /// Streams the object under `key`, or the bytes of `range` of it.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<StoredObject, StorageError> {
        let options = GetOptions::default().with_range(range.map(GetRange::Bounded));
        let result = self
            .store
            .get_opts(&Self::path(key)?, options)
            .await
            .map_err(Self::backend(key))?;
        let owned = key.to_owned();
        Ok(StoredObject {
            size: result.meta.size,
            last_modified: result.meta.last_modified,
            range: result.range.clone(),
            body: result
                .into_stream()
                .map(move |chunk| {
                    chunk.map_err(|source| StorageError::Backend {
                        key: owned.clone(),
                        source,
                    })
                })
                .boxed(),
        })
    }

    /// The bytes of `range` of the object under `key`.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        self.store
            .get_range(&Self::path(key)?, range)
            .await
            .map_err(Self::backend(key))
    }

    /// The size and last change of the object under `key`, without reading it.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        let meta = self
            .store
            .head(&Self::path(key)?)
            .await
            .map_err(Self::backend(key))?;
        Ok(ObjectInfo {
            size: meta.size,
            last_modified: meta.last_modified,
        })
    }

    /// Whether an object is stored under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Self::path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Self::backend(key)(e)),
        }
    }

    /// Deletes the object under `key`; deleting what is not there succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::backend(key)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_object_is_stored_read_in_ranges_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("storage")).unwrap();
        let key = recording_key(Uuid::nil(), "CA00");
        assert!(!storage.exists(&key).await.unwrap());
        storage
            .put(&key, Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert!(
            dir.path()
                .join("storage")
                .join(Uuid::nil().to_string())
                .join("recordings/CA00.mp3")
                .exists()
        );
        assert_eq!(
            storage.get_range(&key, 2..5).await.unwrap(),
            Bytes::from_static(b"234")
        );
        let object = storage.get(&key, Some(8..10)).await.unwrap();
        assert_eq!((object.size, object.range.clone()), (10, 8..10));
        let body: Vec<Bytes> = object.body.map(Result::unwrap).collect::<Vec<_>>().await;
        assert_eq!(body.concat(), b"89");
        storage.delete(&key).await.unwrap();
        assert!(matches!(
            storage.get(&key, None).await,
            Err(StorageError::NotFound(_))
        ));
        storage.delete(&key).await.unwrap();
    }
}

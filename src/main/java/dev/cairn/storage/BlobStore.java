package dev.cairn.storage;

import java.io.IOException;

/**
 * Where blob bytes live, in three roles that callers take one at a time: {@link BlobContent} (blobs by
 * digest, for pulls and pushes), {@link UploadSessionStore} (bytes of uploads not yet a blob) and {@link
 * BlobListing} (the collector's walk). One store plays all three, since an upload ends as a blob of the
 * same store and the walk lists what the content role wrote; the process builds one and closes it.
 */
public interface BlobStore extends BlobContent, UploadSessionStore, BlobListing, AutoCloseable {
    @Override
    default void close() throws IOException {
    }
}

package dev.cairn.storage;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * The walk over every stored blob, which only the collector makes: it finds the bytes that no record
 * knows (left by a crash between publishing a blob and recording it), which no lookup by digest can.
 */
public interface BlobListing {
    /** Every stored blob, for the sweep of blobs that no record knows. */
    void forEachBlob(Consumer<StoredBlob> visitor) throws IOException;
}

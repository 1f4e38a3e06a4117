package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Entries stored by key in a namespace, of any kind but the OCI unit: what a build-tool cache or the step
 * cache keeps. Retention evicts them beside images (see {@link RetentionRecords#snapshot}); a blob an entry
 * names stays while the entry does. Every method is one transaction.
 */
public interface EntryRecords {
    /** An entry as stored: its kind, namespace (what the rules' globs match), key, own bytes, times and blobs. */
    record KeyedEntry(String kind, RepositoryName namespace, String key, long size, Instant pushedAt, Instant lastUsedAt,
                      List<Digest> blobs) {
        public KeyedEntry {
            blobs = List.copyOf(blobs);
        }
    }

    /**
     * Stores the entry, or replaces one under the same kind, namespace and key (a new push time, new blobs).
     * Returns the blobs it names that have no record, and stores nothing then. {@code kind} is a lower-case
     * word ({@code ccache}, {@code bazel-ac}), never {@code manifest} or {@code blob}, the audit log's words for
     * OCI records. Call it under the digest
     * locks of its blobs, as a link is made, so that a sweep deleting one of them either comes first (and
     * the blob is missing here) or sees the entry holding it.
     */
    List<Digest> putEntry(String kind, RepositoryName namespace, String key, long size, Collection<Digest> blobs, Instant now);

    Optional<KeyedEntry> entry(String kind, RepositoryName namespace, String key);

    /** Notes a use of the entry at {@code at} (later uses win); false when it is not there. */
    boolean entryUsed(String kind, RepositoryName namespace, String key, Instant at);

    /** Content stored under a key ({@link #putContent}): its blob, as the blob's record gives it, and the entry's times. */
    record StoredContent(Digest digest, long size, Instant pushedAt, Instant lastUsedAt, ContentNotes notes) {
    }

    /** What a client said of content it stored: how long it took to make (what a hit saves) and a signature to give back with it. */
    record ContentNotes(java.util.OptionalLong costMillis, Optional<String> signature) {
        public static final ContentNotes NONE = new ContentNotes(java.util.OptionalLong.empty(), Optional.empty());
    }

    /** What {@link #putContent} did: whether the content's blob is new to the store, or which blobs to hold were missing (then nothing was stored). */
    record ContentStored(boolean blobIsNew, List<Digest> missing) {
        public ContentStored {
            missing = List.copyOf(missing);
        }
    }

    /**
     * Stores {@code content} (published, {@code contentSize} bytes) as what the key holds, replacing what it
     * held, and makes the entry hold {@code alsoHolds} too (blobs the content names, which must stay while it
     * does); records the content's blob when it has none yet, in the same transaction. When a blob of
     * {@code alsoHolds} has no record, stores nothing and says which. Call it under the digest locks of the
     * content and of {@code alsoHolds}, after publishing the content, as a link is made. The entry's own size
     * is 0: its bytes are the blobs', each counted once.
     */
    ContentStored putContent(String kind, RepositoryName namespace, String key, Digest content, long contentSize,
                             Collection<Digest> alsoHolds, ContentNotes notes, Instant now);

    /** A blob that an entry of {@code kind} in the namespace holds, as {@link #content} gives it (the first such entry's times), when there is one. */
    Optional<StoredContent> heldContent(String kind, RepositoryName namespace, Digest digest);

    /** What the key holds, when it was stored by {@link #putContent} and is there. */
    Optional<StoredContent> content(String kind, RepositoryName namespace, String key);

    /**
     * As {@link #content}, for checks over many keys at once (a Turborepo query, a Bazel action result's outputs):
     * read from the records every time, never remembered, so a check of thousands of keys does not push the
     * keys being read out of memory.
     */
    Optional<StoredContent> peekContent(String kind, RepositoryName namespace, String key);

    /** Deletes the entry (a client asked), with a "manual" audit event; its blobs go to the sweep. False when it was not there. */
    boolean deleteEntry(String kind, RepositoryName namespace, String key, Instant now);

    /** A key, the bytes its content holds and when it was stored: a line of a listing. */
    record StoredKey(String key, long size, Instant pushedAt) {
    }

    /** Keys {@code >= from} and {@code < to}, in byte order, at most {@code limit}. */
    List<StoredKey> keys(String kind, RepositoryName namespace, String from, String to, int limit);

    /** A kind and namespace that hold content under keys, and how many keys. */
    record KeyedNamespace(String kind, RepositoryName namespace, long keys) {
    }

    /** Every kind and namespace holding content under keys, in order: what an export of build-tool caches walks. */
    List<KeyedNamespace> keyedNamespaces();

    /** A blob an entry holds besides its content (a Bazel action result's outputs), with its size. */
    record HeldBlob(Digest digest, long size) {
    }

    /** A key with what it holds: its content and times as {@link #content} gives them, and the other blobs it holds. */
    record ListedContent(String key, StoredContent content, List<HeldBlob> alsoHolds) {
        public ListedContent {
            alsoHolds = List.copyOf(alsoHolds);
        }
    }

    /** The most blobs held besides content one page of {@link #contents} lists, over all its keys (a key holds at most 50,000). */
    int MAX_LISTED_HOLDS = 100_000;

    /**
     * Keys holding content, {@code > after} in byte order, at most {@code limit}, with the blobs each holds besides;
     * a page is cut before a key whose holds would take it past {@link #MAX_LISTED_HOLDS}, so the last key listed
     * is complete. Read from the records without remembering them (a walk of a million keys).
     */
    List<ListedContent> contents(String kind, RepositoryName namespace, String after, int limit);

    /** Times to give a key ({@link #backdateEntries}). */
    record KeyTimes(String key, Instant pushedAt, Instant lastUsed) {
    }

    /**
     * Moves each key's push time and last use back to the given ones (never forward), where it was stored at or
     * after {@code pushedSince} and has not been read since: an import's own entry. One transaction; returns the
     * keys that are not such an entry, left as they were.
     */
    List<String> backdateEntries(String kind, RepositoryName namespace, List<KeyTimes> times, Instant pushedSince);
}

package dev.cairn.keyed;

import dev.cairn.metadata.EntryRecords;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.RegistryEvents;
import dev.cairn.storage.BlobContent;
import dev.cairn.storage.DigestMismatchException;
import dev.cairn.storage.StagedBlob;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Content stored under keys, per kind of client ({@code cache} for plain HTTP and WebDAV clients) and
 * namespace. A write stages the bytes, names them by their SHA-256 and then, under that digest's lock,
 * publishes the blob and points the key at it in one transaction: a write killed mid-body leaves nothing
 * visible, and of two writes of one key the last to commit wins, each whole. Reads cost no database write
 * (the use is batched, see {@link LastUseRecorder#entryUsed}).
 */
public final class KeyedCache {
    /** Children a directory listing names at most (a WebDAV client lists directories; a flat namespace may hold millions of keys). */
    public static final int MAX_LISTED = 10_000;
    private final java.util.concurrent.Semaphore listingQueries = new java.util.concurrent.Semaphore(1, true);
    private static final int LISTING_PAGE = 256;

    private final BlobContent blobs;
    private final MetadataStore metadata;
    private final EntryRecords entries;
    private final LastUseRecorder lastUse;
    private final DigestLocks digestLocks;
    private final RegistryEvents events;
    private final long maxEntryBytes;
    private final Clock clock;

    public KeyedCache(BlobContent blobs, MetadataStore metadata, EntryRecords entries, LastUseRecorder lastUse, DigestLocks digestLocks,
                      RegistryEvents events, long maxEntryBytes, Clock clock) {
        this.blobs = blobs;
        this.metadata = metadata;
        this.entries = entries;
        this.lastUse = lastUse;
        this.digestLocks = digestLocks;
        this.events = events;
        this.maxEntryBytes = maxEntryBytes;
        this.clock = clock;
    }

    /** The largest content one key may hold; larger writes are refused (ENTRY_TOO_LARGE). */
    public long maxEntryBytes() {
        return maxEntryBytes;
    }

    /** What a key holds: its content's digest and size, when it was stored, and the bytes when they were asked for. */
    public record Hit(Digest digest, long size, Instant storedAt, EntryRecords.ContentNotes notes, Optional<InputStream> content) {
    }

    /**
     * What the key holds, with its bytes open when {@code withContent} (a GET; a HEAD asks for none); counted
     * as a hit or a miss. A key whose content went between the lookup and the open is a miss.
     */
    public Optional<Hit> read(String kind, RepositoryName namespace, CacheKey key, boolean withContent) {
        Optional<Hit> hit = find(kind, namespace, key, withContent);
        counted(kind, namespace, hit, withContent);
        return hit;
    }

    /** {@link #read} without counting the lookup: for fronts that look in more than one place for one request (see {@link #counted}). */
    Optional<Hit> find(String kind, RepositoryName namespace, CacheKey key, boolean withContent) {
        Optional<EntryRecords.StoredContent> found = entries.content(kind, namespace, key.path());
        Optional<Hit> hit = opened(found, withContent);
        hit.ifPresent(h -> used(kind, namespace, key, found.get().lastUsedAt()));
        return hit;
    }

    /**
     * A read of a key whose records say it was last used at {@code recordedUse}: batched while that is recent,
     * written at once when it is older than the batching lag, so that every node's collector sees a read that may
     * still be within its grace window and keeps the entry (see ReadProtection).
     */
    private void used(String kind, RepositoryName namespace, CacheKey key, Instant recordedUse) {
        Instant now = clock.instant();
        if (lastUse.protection().mustConfirm(recordedUse, now)) {
            entries.entryUsed(kind, namespace, key.path(), now);
        } else {
            lastUse.entryUsed(kind, namespace, key.path());
        }
    }

    /** What the key holds, without its bytes, counting nothing and recording no use: for queries about many keys at once. */
    Optional<Hit> peek(String kind, RepositoryName namespace, CacheKey key) {
        return opened(entries.peekContent(kind, namespace, key.path()), false);
    }

    /** A blob an entry of {@code holderKind} in the namespace holds (see {@link EntryRecords#heldContent}), opened as {@link #find} does. */
    Optional<Hit> findHeld(String holderKind, RepositoryName namespace, Digest digest, boolean withContent) {
        return opened(entries.heldContent(holderKind, namespace, digest), withContent);
    }

    /** Counts a lookup of {@code kind} as a hit (with the bytes sent) or a miss. */
    void counted(String kind, RepositoryName namespace, Optional<Hit> hit, boolean withContent) {
        if (hit.isPresent()) {
            // A HEAD is a hit too, but only a GET saves the client the work the content cost.
            events.entryHit(kind, namespace, withContent ? hit.get().size() : 0,
                    withContent ? hit.get().notes().costMillis().orElse(0) : 0);
        } else {
            events.entryMiss(kind, namespace);
        }
    }

    private Optional<Hit> opened(Optional<EntryRecords.StoredContent> found, boolean withContent) {
        if (found.isEmpty()) return Optional.empty();
        EntryRecords.StoredContent content = found.get();
        Optional<InputStream> bytes = Optional.empty();
        if (withContent) {
            try {
                bytes = Optional.of(blobs.open(content.digest(), 0));
            } catch (NoSuchFileException e) {
                return Optional.empty(); // evicted and swept since the lookup
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return Optional.of(new Hit(content.digest(), content.size(), content.pushedAt(), content.notes(), bytes));
    }

    /**
     * Stores {@code body} as what the key holds, replacing what it held. {@code declaredLength} (when the
     * client declared one) over the limit is refused before a byte is read; a body that turns out longer is
     * refused too, and nothing of it kept.
     */
    public Hit write(String kind, RepositoryName namespace, CacheKey key, OptionalLong declaredLength, InputStream body) {
        return write(kind, namespace, key, declaredLength, body, Optional.empty(), List.of(), EntryRecords.ContentNotes.NONE);
    }

    /**
     * {@link #write(String, RepositoryName, CacheKey, OptionalLong, InputStream)}, with the content checked
     * against {@code expected} as it streams in (CONTENT_DIGEST_MISMATCH, nothing kept, when it differs), and
     * the entry holding {@code alsoHolds} besides: blobs its content names, which then stay while it does.
     * Refused (INVALID_REQUEST, nothing kept) when one of them is not stored. {@code notes} (what the content
     * cost to make, a signature) are kept with it and given back with every hit.
     */
    Hit write(String kind, RepositoryName namespace, CacheKey key, OptionalLong declaredLength, InputStream body, Optional<Digest> expected,
              Collection<Digest> alsoHolds, EntryRecords.ContentNotes notes) {
        if (declaredLength.isPresent() && declaredLength.getAsLong() > maxEntryBytes) throw tooLarge(declaredLength.getAsLong() + " bytes");
        StagedBlob staged;
        try {
            staged = expected.isPresent() ? blobs.stage(expected.get(), body) : blobs.stageByContent(body);
        } catch (DigestMismatchException e) {
            throw new Refusal(Refusal.Reason.CONTENT_DIGEST_MISMATCH, "the content's digest is " + e.actual() + ", not " + e.expected()
                    + " as its key says", Map.of("digest", e.expected().toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            if (staged.size() > maxEntryBytes) throw tooLarge(staged.size() + " bytes");
            // Outside the digest lock: admission may wait for a collection, which takes digest locks itself.
            try (RegistryEvents.Admission admission = metadata.blobRecordExists(staged.digest())
                    ? RegistryEvents.Admission.NONE : events.admit(staged.size())) {
                Instant now = clock.instant();
                // The content's lock, as a push takes it: publish and record under it. The blobs it names besides need
                // none: the transaction that makes the entry hold them checks they are there, and a sweep's deleting
                // statement checks nothing holds them; the database serialises the two (SQLite's one writer,
                // PostgreSQL's SERIALIZABLE). A lock per named blob would be one per file of a tree artifact.
                digestLocks.withLock(staged.digest(), () -> {
                    try {
                        blobs.publish(staged);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    EntryRecords.ContentStored stored = entries.putContent(kind, namespace, key.path(), staged.digest(), staged.size(), alsoHolds, notes, now);
                    // Callers check what they name before (Bazel: in the namespace's CAS); one gone since leaves the
                    // content's file without a record, which the orphan walk removes.
                    if (!stored.missing().isEmpty()) throw missingReferences(stored.missing());
                    if (stored.blobIsNew()) events.bytesStored(staged.size());
                    return null;
                });
                events.entryStored(kind, namespace, staged.size());
                return new Hit(staged.digest(), staged.size(), now, notes, Optional.empty());
            }
        } finally {
            try {
                blobs.discard(staged);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static Refusal missingReferences(List<Digest> missing) {
        return new Refusal(Refusal.Reason.INVALID_REQUEST, "the entry names " + missing.size() + " blob(s) the cache does not hold, such as "
                + missing.getFirst() + ": store them first", Map.of("digest", missing.getFirst().toString()));
    }

    /** Forgets the key (its content goes once nothing else holds it); ENTRY_NOT_FOUND when it holds nothing. */
    public void delete(String kind, RepositoryName namespace, CacheKey key) {
        if (!entries.deleteEntry(kind, namespace, key.path(), clock.instant())) throw notFound(namespace, key);
        events.entryDeleted(kind, namespace, key.path());
    }

    /** A name in a directory listing: a key holding content, or a directory (a prefix of keys, ending before a '/'). */
    public sealed interface Listed {
        String name();
    }

    public record ListedFile(String name, long size, Instant storedAt) implements Listed {
    }

    public record ListedDirectory(String name) implements Listed {
    }

    /**
     * What {@code path} is: a key holding content, a directory of keys, or nothing. The namespace's root is
     * always a directory. A name that is both (a key "a" and keys under "a/") is the directory when
     * {@code asDirectory} (the client's path ended in '/'), else the key.
     */
    public Optional<Listed> describe(String kind, RepositoryName namespace, Optional<CacheKey> path, boolean asDirectory) {
        if (path.isEmpty()) return Optional.of(new ListedDirectory(""));
        String p = path.get().path();
        String name = p.substring(p.lastIndexOf('/') + 1);
        boolean directory = !keysPage(kind, namespace, p + "/", p + "0", 1).isEmpty(); // '0' follows '/' in byte order
        if (asDirectory) return directory ? Optional.of(new ListedDirectory(name)) : Optional.empty();
        Optional<EntryRecords.StoredContent> content = entries.content(kind, namespace, p);
        if (content.isPresent()) return Optional.of(new ListedFile(name, content.get().size(), content.get().pushedAt()));
        return directory ? Optional.of(new ListedDirectory(name)) : Optional.empty();
    }

    /**
     * Hands {@code visitor} the keys and directories directly under {@code directory} (the root when empty), in
     * byte order; LISTING_TOO_LARGE (and nothing handed over) when there are more than {@link #MAX_LISTED}: a
     * client must not take a cut listing for the whole (rclone sync would delete what it did not see). A
     * directory costs one indexed read however many keys it holds; the names are read twice, a page at a time
     * (counted, then handed over), so a listing holds a page in memory whatever it lists.
     */
    public void list(String kind, RepositoryName namespace, Optional<CacheKey> directory, java.util.function.Consumer<Listed> visitor) {
        long[] count = {0};
        walk(kind, namespace, directory, listed -> ++count[0] <= MAX_LISTED);
        if (count[0] > MAX_LISTED) {
            throw new Refusal(Refusal.Reason.LISTING_TOO_LARGE, "the directory holds more than " + MAX_LISTED
                    + " keys and directories: list a directory below it, or read the keys by name");
        }
        walk(kind, namespace, directory, listed -> {
            visitor.accept(listed);
            return true;
        });
    }

    /** Whether anything lies under {@code directory}. */
    public boolean holdsAnything(String kind, RepositoryName namespace, Optional<CacheKey> directory) {
        boolean[] any = {false};
        walk(kind, namespace, directory, listed -> {
            any[0] = true;
            return false;
        });
        return any[0];
    }

    /** Hands each child of {@code directory} to {@code visitor} while it answers true. */
    private void walk(String kind, RepositoryName namespace, Optional<CacheKey> directory, java.util.function.Predicate<Listed> visitor) {
        String prefix = directory.map(d -> d.path() + "/").orElse("");
        String end = directory.map(d -> d.path() + "0").orElse(CacheKey.AFTER_EVERY_KEY);
        String from = prefix;
        while (true) {
            List<EntryRecords.StoredKey> page = keysPage(kind, namespace, from, end, LISTING_PAGE);
            boolean skipped = false;
            for (EntryRecords.StoredKey key : page) {
                String rest = key.key().substring(prefix.length());
                int slash = rest.indexOf('/');
                Listed listed;
                if (slash < 0) {
                    listed = new ListedFile(rest, key.size(), key.pushedAt());
                    from = key.key() + "\u0001"; // no key holds a control character: the next key is at least this
                } else {
                    String name = rest.substring(0, slash);
                    listed = new ListedDirectory(name);
                    from = prefix + name + "0"; // past every key under it
                    skipped = true;
                }
                if (!visitor.test(listed)) return;
                if (skipped) break;
            }
            if (!skipped && page.size() < LISTING_PAGE) return;
        }
    }

    /**
     * One page of keys, one listing query at a time on this node: SQLite's queries run on the request's carrier
     * thread without yielding, so listings on every core at once would hold up every other request.
     */
    private List<EntryRecords.StoredKey> keysPage(String kind, RepositoryName namespace, String from, String to, int limit) {
        try {
            listingQueries.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting to list keys", e);
        }
        try {
            return entries.keys(kind, namespace, from, to, limit);
        } finally {
            listingQueries.release();
        }
    }

    /** The most keys one page of {@link #contents} lists. */
    public static final int MAX_CONTENTS_PAGE = 1000;
    /** How soon after its write an imported key may be given its old times (as an imported manifest). */
    public static final java.time.Duration BACKDATE_WINDOW = java.time.Duration.ofHours(1);

    /** Every kind and namespace holding content under keys: what an export walks. */
    public List<EntryRecords.KeyedNamespace> namespaces() {
        return entries.keyedNamespaces();
    }

    /** A page of the namespace's keys after {@code after}, with their content, times and the blobs they hold; no use recorded. */
    public List<EntryRecords.ListedContent> contents(String kind, RepositoryName namespace, String after, int limit) {
        return entries.contents(kind, namespace, after, Math.max(1, Math.min(limit, MAX_CONTENTS_PAGE)));
    }

    /** The digest of what the key holds, when it holds content; no use recorded, nothing remembered (an import asks about thousands). */
    public Optional<Digest> peekKey(String kind, RepositoryName namespace, String key) {
        return entries.peekContent(kind, namespace, key).map(EntryRecords.StoredContent::digest);
    }

    /**
     * The bytes of a blob an entry of {@code kind} in the namespace holds (its content or a blob it holds besides),
     * for a transfer: neither a use nor a hit. ENTRY_NOT_FOUND when no entry there holds it: a namespace's
     * reader reads only what that namespace holds.
     */
    public Hit transferRead(String kind, RepositoryName namespace, Digest digest) {
        Optional<Hit> hit = opened(entries.heldContent(kind, namespace, digest), true);
        return hit.orElseThrow(() -> new Refusal(Refusal.Reason.ENTRY_NOT_FOUND, "no entry of kind " + kind + " in " + namespace + " holds " + digest));
    }

    /**
     * Gives keys the push time and last use they had where they came from (an import), as
     * {@code RepositoryManifests.backdate} does a manifest: never later than now or than recorded, only for a key
     * written here within {@link #BACKDATE_WINDOW} and not read since, and on shared stores a last use no older
     * than the records may lag another node's read. Returns the keys left as they were.
     */
    public List<String> backdate(String kind, RepositoryName namespace, List<EntryRecords.KeyTimes> times) {
        Instant now = clock.instant();
        lastUse.flush(); // this node's reads first: a build's read, written after, must still count
        Instant floor = metadata.isShared() ? now.minus(lastUse.protection().batchedLag()) : Instant.MIN;
        List<EntryRecords.KeyTimes> bounded = new ArrayList<>(times.size());
        for (EntryRecords.KeyTimes t : times) {
            Instant used = t.lastUsed().isAfter(now) ? now : t.lastUsed();
            if (used.isBefore(floor)) used = floor;
            bounded.add(new EntryRecords.KeyTimes(t.key(), t.pushedAt().isAfter(now) ? now : t.pushedAt(), used));
        }
        return entries.backdateEntries(kind, namespace, bounded, now.minus(BACKDATE_WINDOW));
    }

    /** The refusal of an entry of {@code size} (in words: "600 bytes", "more than 512 bytes"). */
    public Refusal tooLarge(String size) {
        return new Refusal(Refusal.Reason.ENTRY_TOO_LARGE, "the entry is " + size + ", over the limit of " + maxEntryBytes
                + " bytes per key (cache.max-entry-bytes)");
    }

    private static Refusal notFound(RepositoryName namespace, CacheKey key) {
        return new Refusal(Refusal.Reason.ENTRY_NOT_FOUND, "no entry " + key.path() + " in " + namespace);
    }
}

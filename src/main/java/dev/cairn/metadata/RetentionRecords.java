package dev.cairn.metadata;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The records retention reads and deletes. Every method is one transaction or one plain read. The collector
 * reads entries a page at a time, in the order it evicts them, and never the whole cache at once: its memory
 * follows a page and what it deletes, not the size of the store.
 */
public interface RetentionRecords {

    /** The orders entries are listed in. */
    enum EntryOrder {
        /** Least recently used first: by last use, then push time, name, key and kind. */
        LAST_USE,
        /** Oldest push first: by push time, then name, key and kind. */
        PUSH_TIME
    }

    /** Where a listing stands: the sort key of the last entry it returned, in its order. */
    record EntryPosition(long time, long pushedAt, String name, String key, String kind) {
        public static final EntryPosition START = new EntryPosition(Long.MIN_VALUE, Long.MIN_VALUE, "", "", "");
    }

    /**
     * An entry as a listing returns it: an OCI root manifest (kind {@code manifest}, named by repository and
     * digest) or a keyed entry. {@code tagged} and {@code hasDependents} (untagged child manifests or referrers
     * that go with it) are for OCI roots.
     */
    record ListedEntry(String kind, String name, String key, long size, Instant pushedAt, Instant lastUsedAt, boolean tagged,
                       boolean hasDependents, EntryPosition position) {
    }

    /**
     * Up to {@code limit} root manifests (tagged, or referenced by no manifest of their repository and not a
     * referrer of a live one) after {@code after} in {@code order}, whose order time (last use, or push) is
     * before {@code before}. Retired manifests are not listed.
     */
    List<ListedEntry> rootManifests(EntryOrder order, EntryPosition after, Instant before, int limit);

    /** The same for keyed entries of every kind. */
    List<ListedEntry> keyedEntries(EntryOrder order, EntryPosition after, Instant before, int limit);

    /** A manifest of an eviction unit. */
    record UnitMember(String digest, long size, Instant pushedAt, Instant lastUsedAt) {
    }

    /**
     * The unit a root manifest heads, root first: the root, then, down the graph, the untagged live manifests an
     * index lists and the untagged live referrers of any member. Empty if the root is gone.
     */
    List<UnitMember> unitMembers(String repository, String root);

    /** The tags pointing at a manifest. */
    List<String> tagsOf(String repository, String digest);

    /**
     * Bytes of stored blobs that nothing holds: no live manifest references them and no keyed entry names them.
     * They wait out the grace window for the sweep, and evicting entries cannot free them sooner. Counted over
     * the blobs marked for the sweep, which every unheld blob is once a collection has looked (see below).
     */
    long unheldBlobBytes();

    /**
     * Bytes that live entries hold: {@link #storedBytes} less {@link #unheldBlobBytes}, both read at one moment, so
     * that a sweep deleting marked blobs meanwhile (which takes them from both) does not skew the difference.
     */
    long heldBytes();

    /**
     * The blobs an entry holds, with their sizes: those its manifests reference (an OCI unit, named by its
     * repository and member digests) or those it names (a keyed entry, by kind, namespace and key).
     */
    java.util.Map<String, Long> blobsHeldBy(String kind, String name, List<String> records);

    /**
     * Up to {@code limit} holders of a blob: live manifests referencing it as {@code repository@digest}, keyed
     * entries naming it as {@code kind:namespace@key}. For a dry run, which deletes nothing and so asks.
     */
    List<String> blobHolders(String digest, int limit);

    /** Bytes stored: every blob once, plus every manifest document. */
    long storedBytes();

    /** How many blobs the store holds (reads every blob record). */
    long blobCount();

    /**
     * An eviction unit as retention saw it: the root first, then the manifests that go with it. The unit
     * is deleted only if it is still as seen: the root not pushed again, no member used since
     * {@code usedNoLaterThan} (when given), no tag added to a member (nor to the root when
     * {@code rootMustBeUntagged}), and no manifest outside the unit referencing a member.
     */
    record UnitDeletion(RepositoryName repository, List<String> digests, Instant rootPushedAt,
                        Optional<Instant> usedNoLaterThan, boolean rootMustBeUntagged, DeletionReason reason) implements Deletion {
        public UnitDeletion {
            digests = List.copyOf(digests);
        }
    }

    /**
     * A keyed entry as retention saw it: deleted only if still as seen, not pushed again ({@code pushedAt}) and,
     * when given, not used after {@code usedNoLaterThan}.
     */
    record EntryDeletion(String kind, String namespace, String key, Instant pushedAt, Optional<Instant> usedNoLaterThan,
                         DeletionReason reason) implements Deletion {
    }

    /** An entry to delete if it is still as retention saw it. */
    sealed interface Deletion permits UnitDeletion, EntryDeletion {
        DeletionReason reason();
    }

    /**
     * What one deletion did: the records that went (a unit's manifest digests, root first; a keyed entry's key;
     * none if the entry changed and stays), their own bytes, and the bytes they free in all: their own and those
     * of the blobs that lost their last holder with them; and the digests of those blobs (marked for the sweep).
     */
    record Evicted(List<String> records, long ownBytes, long freedBytes, List<String> freedBlobs) {
        public static final Evicted NOTHING = new Evicted(List.of(), 0, 0);

        /** What a deletion would do, when which blobs it frees is not told (a dry run's estimate). */
        public Evicted(List<String> records, long ownBytes, long freedBytes) {
            this(records, ownBytes, freedBytes, List.of());
        }
    }

    /**
     * Deletes, in order and in one transaction, each entry still as seen, until the bytes freed reach
     * {@code bytesToFree}; returns what each deletion did, for the deletions made (a prefix of the list).
     * Each deleted record gets its audit event in the same transaction, and each blob whose last holder went
     * is marked with the deletion's reason for the sweep. A unit goes with its tags and references; a member
     * that a manifest outside the unit still references (or whose live subject stays) is kept, and so is a
     * unit whose root is referenced or re-pushed, used since, or tagged where it had no tag. A unit whose
     * recorded use says a read may still be within its grace window ({@link ReadProtection#keepEvictedUntil})
     * loses its tags but is retired rather than deleted: readable by digest, its references kept, until then.
     */
    List<Evicted> evict(List<? extends Deletion> deletions, ReadProtection protection, Instant now, long bytesToFree);

    /** {@link #evict} of units, every one of them: per unit in order, the digests evicted (empty for a unit that changed). */
    default List<List<String>> deleteUnits(List<UnitDeletion> units, ReadProtection protection, Instant now) {
        return evict(units, protection, now, Long.MAX_VALUE).stream().map(Evicted::records).toList();
    }

    /** Deletes up to {@code limit} retired manifests whose stay ended before {@code now}, with their references; returns how many. */
    int deleteRetiredManifests(Instant now, int limit);

    /**
     * Deletes at once every retired manifest of a repository {@code repositories} accepts (pushed before
     * {@code pushedBefore}, when given) that no other manifest references, with its references, however long
     * its stay had left: an invalidation's entries go from everyone. Returns how many.
     */
    int deleteRetiredManifests(java.util.function.Predicate<String> repositories, Optional<Instant> pushedBefore);

    /** A repository's link to a blob, as a position in (repository, digest) order. */
    record LinkKey(String repository, String digest) {
    }

    /*
     * The sweep looks only at blobs marked for it, so that its work follows what changed, not the size of the
     * store. Whatever may leave a blob unheld marks it in its own transaction: an eviction (with its reason), the
     * deletion of a retired or a deleted manifest (its references), a blob DELETE, a keyed entry written again.
     * Uploads no manifest came for are found among the links made since the last look; a slice of every link
     * and every blob is looked at on each collection besides, so that nothing stays unseen for good. A mark is
     * only a reason to look: the sweep checks every condition again in its deleting statements.
     */

    /**
     * Marks the blobs of links made since the last look (every link made, re-made or mounted is kept for it, whatever
     * the clock of the node that made it) that no manifest of their repository references: abandoned pushes, and
     * pushes in flight, which the sweep waits out. Reads {@code pageSize} links at a time and takes each page off
     * what the next look reads. Returns how many blobs it marked.
     */
    int markNewLinks(int pageSize);

    /**
     * Marks what the next slice of {@code size} links and {@code size} blobs holds that may be unheld (see
     * {@link #markUnreferencedLinks} and {@link #markUnheldBlobs}), from where the last slice ended (kept in the
     * shared settings, for restarts and for the other nodes). True when both came round to the start.
     */
    boolean markNextSlice(Instant cutoff, int size);

    /**
     * Of the {@code pageSize} links after {@code after} in (repository, digest) order, marks the blobs of those made
     * before {@code cutoff} that no manifest of their repository references. Returns the last link of the page, where
     * the next starts, or empty once the page reached the end.
     */
    Optional<LinkKey> markUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize);

    /**
     * Of the {@code pageSize} blobs after {@code after} in digest order, marks those written before {@code cutoff}
     * that nothing links, references or holds. Returns the last blob of the page, or empty at the end.
     */
    Optional<Digest> markUnheldBlobs(Instant cutoff, Optional<Digest> after, int pageSize);

    /** Up to {@code limit} blobs marked for the sweep, in digest order after {@code after}. */
    List<Digest> sweepCandidates(Optional<Digest> after, int limit);

    /** A blob record the sweep deleted: its size and why it went. */
    record DeletedBlobRecord(long size, DeletionReason reason) {
    }

    /**
     * Sweeps those of {@code digests} (marked ones) that can go, in one transaction: first their links that no
     * manifest of the repository references, made before {@code cutoff}, to a blob not used since; then the blobs
     * nothing links, references or holds any more, written before the cutoff, each with an audit event giving
     * its reason (the eviction's that freed it, else "unreferenced"). A blob a live manifest or entry holds again
     * loses its mark; one still waiting keeps it. Every condition is checked in the deleting statement itself.
     * Returns each blob deleted, in the order asked.
     */
    java.util.Map<Digest, DeletedBlobRecord> sweepBlobs(List<Digest> digests, Instant cutoff);

    /** A blob a sweep would delete now, for a dry run. */
    record SweepableBlob(Digest digest, long size, DeletionReason reason) {
    }

    /** Up to {@code limit} marked blobs a sweep at {@code cutoff} would delete: nothing references or holds them, and nothing recent protects them. */
    List<SweepableBlob> sweepable(Instant cutoff, int limit);

    /** True when the store has a record of the blob (its file must then be kept). */
    boolean blobRecordExists(Digest digest);

    /** Those of {@code digests} that have a blob record (one query, for the walk over blob files). */
    java.util.Set<Digest> blobRecordsAmong(java.util.Collection<Digest> digests);

    /** A deletion as the audit log tells it. */
    record AuditEvent(long id, Instant at, String kind, Optional<String> repository, String digest, List<String> tags,
                      long bytes, String reason) {
        public AuditEvent {
            tags = List.copyOf(tags);
        }
    }

    /** Records an audit event on its own (for deletions with no record to delete, such as orphan files). */
    void addAuditEvent(AuditEvent event);

    /**
     * Audit events not yet copied to the audit log, oldest first, up to {@code limit}: handed to {@code visitor} as
     * they are read, none kept (a large collection leaves a million to copy). Returns how many there were.
     */
    int readAuditEvents(int limit, java.util.function.Consumer<AuditEvent> visitor);

    /** As {@link #readAuditEvents}, in a list. */
    default List<AuditEvent> auditEvents(int limit) {
        List<AuditEvent> events = new java.util.ArrayList<>();
        readAuditEvents(limit, events::add);
        return events;
    }

    /** Forgets these audit events, in one transaction, once they are in the audit log (ids of events already gone are no error). */
    void forgetAuditEvents(List<Long> ids);

    Optional<String> setting(String name);

    void putSetting(String name, String value);

    /** Per-repository figures for {@code cairn stats}. */
    record RepositoryFigures(String repository, long manifests, long tags, long bytes, Optional<Instant> lastUsedAt) {
    }

    List<RepositoryFigures> repositoryFigures();

    /** A namespace of keyed entries of one kind at a glance: keys, bytes their content holds (shared content counted per key), last use. */
    record NamespaceFigures(String kind, String namespace, long keys, long bytes, Optional<Instant> lastUsedAt) {
    }

    List<NamespaceFigures> namespaceFigures();

    /** Every name entries are kept under: repositories and namespaces of keyed entries, in order, after {@code after}, at most {@code limit}. */
    List<String> entryNames(String after, int limit);

    /**
     * What the entries under one name hold: a repository's linked blobs and manifests, every blob an entry of a
     * namespace holds (of every kind; once in the namespace); a blob shared with another name counts for both.
     * Reads that name's records only.
     */
    long bytesUnder(String name);
}

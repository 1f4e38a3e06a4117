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
     * They wait out the grace window for the sweep, and evicting entries cannot free them sooner. One pass over
     * the blobs, the only one a collection's planning makes.
     */
    long unheldBlobBytes();

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
     * of the blobs that lost their last holder with them.
     */
    record Evicted(List<String> records, long ownBytes, long freedBytes) {
        public static final Evicted NOTHING = new Evicted(List.of(), 0, 0);
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

    /**
     * Deletes up to {@code limit} links that no manifest of their repository references, made before
     * {@code cutoff}, to blobs not used since {@code cutoff} (what an abandoned push or an evicted
     * manifest leaves), each condition checked in the deleting statement itself. Returns how many went.
     */
    int deleteUnreferencedLinks(Instant cutoff, int limit);

    /** A repository's link to a blob, as a position in (repository, digest) order. */
    record LinkKey(String repository, String digest) {
    }

    /**
     * The same deletion, one page at a time: of the {@code pageSize} links that follow {@code after} in
     * (repository, digest) order, deletes those {@link #deleteUnreferencedLinks} would. Returns the last link
     * of the page, where the next page starts, or empty once the page reached the end. Paging through the
     * table once costs one pass, where repeating {@link #deleteUnreferencedLinks} until it deletes nothing
     * scans the kept links again for every batch.
     */
    Optional<LinkKey> deleteUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize);

    /** Blobs that no repository links and no keyed entry holds, created before {@code cutoff}, in digest order after {@code after}. */
    List<Digest> unlinkedBlobs(Instant cutoff, Optional<Digest> after, int limit);

    /** A blob record the sweep deleted: its size and why it went. */
    record DeletedBlobRecord(long size, DeletionReason reason) {
    }

    /**
     * Deletes the records of those blobs that no repository links, no manifest references and no keyed entry holds (checked in
     * the same transaction), with an audit event giving each one's reason: the eviction's that freed it, where one did, else
     * the one given. Returns each blob deleted.
     */
    java.util.Map<Digest, DeletedBlobRecord> deleteBlobsIfUnlinked(java.util.Map<Digest, DeletionReason> reasons);

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

    /** Audit events not yet copied to the audit log, oldest first. */
    List<AuditEvent> auditEvents(int limit);

    /** Forgets audit events up to and including {@code id}, once they are in the audit log. */
    void forgetAuditEvents(long id);

    Optional<String> setting(String name);

    void putSetting(String name, String value);

    /** Per-repository figures for {@code cairn stats}. */
    record RepositoryFigures(String repository, long manifests, long tags, long bytes, Optional<Instant> lastUsedAt) {
    }

    List<RepositoryFigures> repositoryFigures();
}

package dev.cairn.metadata;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** The records retention reads and deletes. Every method is one transaction. */
public interface RetentionRecords {

    CacheSnapshot snapshot();

    /** Bytes stored: every blob once, plus every manifest document. */
    long storedBytes();

    /**
     * An eviction unit as retention saw it: the root first, then the manifests that go with it. The unit
     * is deleted only if it is still as seen: the root not pushed again, no member used since
     * {@code usedNoLaterThan} (when given), no tag added to a member (nor to the root when
     * {@code rootMustBeUntagged}), and no manifest outside the unit referencing a member.
     */
    record UnitDeletion(RepositoryName repository, List<String> digests, Instant rootPushedAt,
                        Optional<Instant> usedNoLaterThan, boolean rootMustBeUntagged, DeletionReason reason) {
        public UnitDeletion {
            digests = List.copyOf(digests);
        }
    }

    /**
     * Deletes each unit that is still as seen, with its tags and references, in one transaction for the
     * batch, recording an audit event per manifest in the same transaction. A unit whose recorded use says
     * a read may still be within its grace window ({@link ReadProtection#keepEvictedUntil}) loses its tags
     * but is retired rather than deleted: readable by digest, its references kept, until then. Returns, per
     * unit in order, the digests evicted (empty for a unit that changed).
     */
    List<List<String>> deleteUnits(List<UnitDeletion> units, ReadProtection protection, Instant now);

    /**
     * A keyed entry as retention saw it: deleted only if still as seen, not pushed again ({@code pushedAt}) and,
     * when given, not used after {@code usedNoLaterThan}.
     */
    record EntryDeletion(String kind, String namespace, String key, Instant pushedAt, Optional<Instant> usedNoLaterThan,
                         DeletionReason reason) {
    }

    /**
     * Deletes each keyed entry still as seen, with its hold on its blobs, in one transaction for the batch,
     * recording an audit event per entry (its kind, namespace and key) in the same transaction. Returns, per
     * deletion in order, whether the entry went.
     */
    List<Boolean> deleteEntries(List<EntryDeletion> deletions, Instant now);

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

    /**
     * Deletes the records of those blobs that no repository links, no manifest references and no keyed entry holds (checked in
     * the same transaction), with an audit event giving each one's reason; returns the size of each one deleted.
     */
    java.util.Map<Digest, Long> deleteBlobsIfUnlinked(java.util.Map<Digest, DeletionReason> reasons);

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

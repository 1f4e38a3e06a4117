package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * The registry's records. Every method is one transaction; the stores decide how (SQLite serialises
 * writers in-process, PostgreSQL lets the database do it).
 */
public interface MetadataStore extends AutoCloseable {

    /** True when the repository may serve the blob (it was pushed or mounted into it). */
    boolean isBlobLinked(RepositoryName repository, Digest digest);

    /** A blob the repository may serve: its size and when it was last used, as recorded. */
    record LinkedBlob(long size, java.time.Instant lastUsedAt) {
    }

    /** The blob when the repository may serve it, else empty. */
    Optional<LinkedBlob> linkedBlob(RepositoryName repository, Digest digest);

    /**
     * Records that the repository holds the blob; creates the repository on first use. Returns true when
     * the blob itself is new to the store (its bytes now count against the budget).
     */
    boolean linkBlob(RepositoryName repository, Digest digest, long size);

    /** True when the store has a record of the blob (its file must then be kept). */
    boolean blobRecordExists(Digest digest);

    /** Forgets the repository's link to the blob; false when there was none. */
    boolean unlinkBlob(RepositoryName repository, Digest digest);

    Optional<StoredManifest> manifest(RepositoryName repository, Digest digest);

    boolean manifestExists(RepositoryName repository, Digest digest);

    Optional<Digest> resolveTag(RepositoryName repository, Tag tag);

    /** What storing a manifest did: the references it lacked (then nothing was stored), or whether it created the manifest. */
    record ManifestStored(List<Digest> missing, boolean created) {
        public ManifestStored {
            missing = List.copyOf(missing);
        }
    }

    /**
     * Stores the manifest and, when given, points the tag at it, in one transaction. When any reference
     * is neither a blob nor a manifest of the repository, stores nothing and returns those references.
     * {@code created} tells, exactly across nodes (the transaction decides), whether the manifest is new
     * to the repository, so concurrent pushes of one manifest count its bytes once.
     */
    ManifestStored storeManifest(NewManifest manifest, Optional<Tag> tag);

    /**
     * {@link #storeManifest} for a pull-through mirror: the manifest is stored with its references whether or not
     * what they name is here yet (the mirror fetches blobs as they are read), so that each becomes held by the
     * manifest the moment it is linked. Only for repositories no client may push into.
     */
    ManifestStored storeMirroredManifest(NewManifest manifest, Optional<Tag> tag);

    /** {@link #storeManifest}, for callers that need only the missing references. */
    default List<Digest> putManifest(NewManifest manifest, Optional<Tag> tag) {
        return storeManifest(manifest, tag).missing();
    }

    /** Deletes the manifest and every tag pointing at it, with a "manual" audit event; false when it was not there. */
    boolean deleteManifest(RepositoryName repository, Digest digest);

    /** Deletes one tag, leaving its manifest; false when the tag was not there. */
    boolean deleteTag(RepositoryName repository, Tag tag);

    /** Tags in lexical order, strictly after {@code after} when given, at most {@code limit}. */
    List<String> tags(RepositoryName repository, Optional<String> after, int limit);

    boolean repositoryExists(RepositoryName repository);

    /**
     * Whether the repository's content comes from a pull-through mirror (true) or from clients' pushes (false), as
     * decided by whatever wrote into it first; empty while nothing has. It never changes once decided.
     */
    Optional<Boolean> repositoryMirrored(RepositoryName repository);

    /**
     * Makes a repository nothing was written into yet a mirror's; true when it is a mirror's (now or before), false
     * when clients' pushes got there first.
     */
    boolean claimForMirror(RepositoryName repository);

    /** True when other nodes share these records: their batched reads are not in them yet. */
    default boolean isShared() {
        return false;
    }

    /** A page of the repository's manifests (not those an eviction retired), in digest order after {@code after}. */
    List<ManifestTimes> manifestTimes(RepositoryName repository, Optional<Digest> after, int limit);

    /**
     * Moves a manifest's push time and last use back to the given ones where they are earlier, never forward:
     * an imported cache keeps the age it had. Only a manifest pushed since {@code pushedSince} and not read since
     * its push is changed; false for any other, or none.
     */
    boolean backdateManifest(RepositoryName repository, Digest digest, java.time.Instant pushedAt, java.time.Instant lastUsed,
                             java.time.Instant pushedSince);

    /** Repository names in lexical order, strictly after {@code after} when given, at most {@code limit}. */
    List<String> repositories(Optional<String> after, int limit);

    /** Manifests of the repository whose subject is {@code subject}, in digest order. */
    List<StoredManifest> referrers(RepositoryName repository, Digest subject);

    void createUpload(UploadSession session);

    /** How many sessions {@code owner} has open. */
    int countUploadsOf(String owner);

    /** Up to {@code limit} of {@code owner}'s open sessions, oldest first. */
    List<UploadSession> uploadsOf(String owner, int limit);

    Optional<UploadSession> upload(String id);

    void deleteUpload(String id);

    /** Sessions opened before {@code cutoff}: candidates for expiry. */
    List<UploadSession> uploadsStartedBefore(java.time.Instant cutoff);

    /** Applies a batch of last-use times; a time never moves backwards. */
    void recordLastUse(Collection<LastUse> uses);

    /**
     * Records a use of a blob at {@code at} in one transaction with the check that the repository still
     * links it; false (and nothing written) when it does not. A sweep deleting the link is therefore
     * either before this (false) or sees the use (and keeps the link).
     */
    boolean confirmBlobUse(RepositoryName repository, Digest digest, java.time.Instant at);

    /**
     * Records a read of a manifest at {@code at} in one statement that also finds it; false (and nothing
     * written) when the manifest is gone. A retired manifest (see ReadProtection) stays at least until
     * {@code keepRetiredUntil}, or its limit when that comes first. An eviction deciding on the manifest is
     * therefore either before this (false, or retired with a stay that covers this read) or sees this use.
     */
    boolean confirmManifestUse(RepositoryName repository, Digest digest, java.time.Instant at, java.time.Instant keepRetiredUntil);

    /** Answers when the database answers; throws otherwise (for readiness probes). */
    void ping();

    @Override
    void close();
}

package dev.cairn.metadata;

import dev.cairn.registry.Digest;
import dev.cairn.registry.RepositoryName;

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
                        Optional<Instant> usedNoLaterThan, boolean rootMustBeUntagged) {
        public UnitDeletion {
            digests = List.copyOf(digests);
        }
    }

    /** Deletes the unit with its tags and references in one transaction; returns its digests, or nothing when it changed. */
    List<String> deleteUnit(UnitDeletion unit);

    /** A repository's link to a blob. */
    record BlobLink(String repository, String digest) {
    }

    /**
     * Links that no manifest of their repository references, made before {@code cutoff}, to blobs not
     * used since {@code cutoff}: what an abandoned push or an evicted manifest leaves.
     */
    List<BlobLink> unreferencedLinks(Instant cutoff, int limit);

    /** Deletes a link if it is still unreferenced; true when it was deleted. */
    boolean deleteLinkIfUnreferenced(BlobLink link);

    /** Blobs that no repository links, created before {@code cutoff}. */
    List<Digest> unlinkedBlobs(Instant cutoff, int limit);

    Optional<String> setting(String name);

    void putSetting(String name, String value);

    /** Per-repository figures for {@code cairn stats}. */
    record RepositoryFigures(String repository, long manifests, long tags, long bytes, Optional<Instant> lastUsedAt) {
    }

    List<RepositoryFigures> repositoryFigures();
}

package dev.cairn.registry;

import dev.cairn.values.Tag;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Refusal;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.StoredManifest;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

import static dev.cairn.registry.RegistryErrors.manifestUnknown;

/** Manifests and tags as repositories hold them, and the listings over them (tags, catalog, referrers). */
public final class RepositoryManifests {
    /** Upper bound on one page of tags or repositories when the client names none. */
    public static final int MAX_PAGE = 10_000;

    private final MetadataStore metadata;
    private final LastUseRecorder lastUse;
    private final Clock clock;
    private final long maxManifestBytes;
    private final RegistryEvents events;

    RepositoryManifests(MetadataStore metadata, LastUseRecorder lastUse, Clock clock, long maxManifestBytes, RegistryEvents events) {
        this.metadata = metadata;
        this.lastUse = lastUse;
        this.clock = clock;
        this.maxManifestBytes = maxManifestBytes;
        this.events = events;
    }

    public StoredManifest getManifest(RepositoryName repository, Reference reference) {
        Optional<Digest> digest = switch (reference) {
            case Reference.ByDigest d -> Optional.of(d.digest());
            case Reference.ByTag t -> metadata.resolveTag(repository, t.tag());
        };
        // The use is noted after the read, from what the read found: a use the records would learn of too late
        // for a collector on another node is written before the answer (see LastUseRecorder).
        Optional<StoredManifest> manifest = digest.flatMap(d -> metadata.manifest(repository, d))
                .filter(m -> lastUse.manifestUsed(repository, m.digest(), m.recordedUse(), m.retiredUntil()));
        if (manifest.isEmpty()) {
            events.manifestMiss(repository);
            throw manifestUnknown(reference);
        }
        events.manifestHit(repository);
        return manifest.get();
    }

    /**
     * A read that is not a use: no last use recorded, no hit or miss counted. For exports, which read what a cache
     * holds without building from it; the manifest may be gone a moment later (nothing protects it for the
     * grace window), which fails the export, never a build.
     */
    public StoredManifest readWithoutUse(RepositoryName repository, Reference reference) {
        Optional<Digest> digest = switch (reference) {
            case Reference.ByDigest d -> Optional.of(d.digest());
            case Reference.ByTag t -> metadata.resolveTag(repository, t.tag());
        };
        java.time.Instant now = clock.instant();
        // a retired manifest is readable only until its retirement ends, transfer or not
        return digest.flatMap(d -> metadata.manifest(repository, d))
                .filter(m -> m.retiredUntil().map(until -> until.isAfter(now)).orElse(true))
                .orElseThrow(() -> manifestUnknown(reference));
    }

    /**
     * Stores a manifest under a tag or digest. It is accepted only when it parses, its digest matches a
     * digest reference, and everything it references is already in the repository.
     */
    public ManifestPushed putManifest(RepositoryName repository, Reference reference, Optional<String> contentType, InputStream body) {
        byte[] content = readLimited(body);
        Manifest manifest = ManifestParser.parse(content, contentType);
        Digest digest = digestOf(reference, content);
        Optional<Tag> tag = reference instanceof Reference.ByTag(Tag t) ? Optional.of(t) : Optional.empty();
        NewManifest stored = new NewManifest(repository, digest, manifest.mediaType(), content,
                manifest.subject().map(Descriptor::digest), manifest.effectiveArtifactType().filter(t -> manifest.subject().isPresent()),
                manifest.requiredDigests(), clock.instant());
        boolean maybeNew = !metadata.manifestExists(repository, digest); // an index read, not the document
        // Room first (it may wait for a collection); the store's transaction then tells whether this push is the
        // one that created the manifest, so concurrent pushes of one manifest, on any nodes, count it once.
        List<Digest> missing;
        try (RegistryEvents.Admission admission = maybeNew ? events.admit(content.length) : RegistryEvents.Admission.NONE) {
            MetadataStore.ManifestStored result = metadata.storeManifest(stored, tag);
            missing = result.missing();
            if (result.created()) events.bytesStored(content.length);
        }
        if (!missing.isEmpty()) {
            throw new Refusal(Refusal.Reason.MISSING_REFERENCES,
                    missing.size() + " referenced blob(s) or manifest(s) not in " + repository + ", first " + missing.getFirst(),
                    Map.of("digest", missing.getFirst().toString()));
        }
        return new ManifestPushed(digest, manifest.subject().map(Descriptor::digest));
    }

    /**
     * What the repository holds under {@code reference}, looked up without counting a hit or a miss and without
     * recording a use (a pull-through mirror asks before it decides where to answer from); a retired manifest
     * counts as absent.
     */
    public Optional<StoredManifest> find(RepositoryName repository, Reference reference) {
        Optional<Digest> digest = switch (reference) {
            case Reference.ByDigest d -> Optional.of(d.digest());
            case Reference.ByTag t -> metadata.resolveTag(repository, t.tag());
        };
        return digest.flatMap(d -> metadata.manifest(repository, d)).filter(m -> m.retiredUntil().isEmpty());
    }

    /**
     * Stores a manifest a pull-through mirror fetched (its digest checked by the caller against what it asked for),
     * under {@code tag} when given: it must parse, and what it references may follow (the mirror fetches blobs as
     * they are read); the references are recorded, so each blob is held by the manifest once it is linked.
     */
    public ManifestPushed putMirrored(RepositoryName repository, Optional<Tag> tag, String mediaType, byte[] content) {
        if (content.length > maxManifestBytes) {
            throw new Refusal(Refusal.Reason.MANIFEST_TOO_LARGE, "the upstream's manifest exceeds the limit of " + maxManifestBytes + " bytes");
        }
        Manifest manifest = ManifestParser.parse(content, Optional.of(mediaType));
        Digest digest = Digest.sha256(content);
        NewManifest stored = new NewManifest(repository, digest, manifest.mediaType(), content,
                manifest.subject().map(Descriptor::digest), manifest.effectiveArtifactType().filter(t -> manifest.subject().isPresent()),
                manifest.requiredDigests(), clock.instant());
        boolean maybeNew = !metadata.manifestExists(repository, digest);
        try (RegistryEvents.Admission admission = maybeNew ? events.admit(content.length) : RegistryEvents.Admission.NONE) {
            MetadataStore.ManifestStored result = metadata.storeMirroredManifest(stored, tag);
            if (result.created()) events.bytesStored(content.length);
        }
        return new ManifestPushed(digest, manifest.subject().map(Descriptor::digest));
    }

    /** The manifest's digest: sha256, or the algorithm a digest reference names, which it must match. */
    private static Digest digestOf(Reference reference, byte[] content) {
        Digest sha256 = Digest.sha256(content);
        if (!(reference instanceof Reference.ByDigest(Digest claimed))) return sha256;
        Digest actual = claimed.algorithm().equals("sha256") ? sha256 : Digest.of(claimed.algorithm(), claimed.newHasher().digest(content));
        if (!actual.equals(claimed)) {
            throw new Refusal(Refusal.Reason.CONTENT_DIGEST_MISMATCH, "manifest hashes to " + actual + ", not " + claimed,
                    Map.of("digest", claimed.toString()));
        }
        return claimed;
    }

    /** Deletes a tag (the manifest stays) or, by digest, the manifest and every tag pointing at it. */
    public void deleteManifest(RepositoryName repository, Reference reference) {
        boolean deleted = switch (reference) {
            case Reference.ByTag t -> metadata.deleteTag(repository, t.tag());
            case Reference.ByDigest d -> {
                Optional<StoredManifest> stored = metadata.manifest(repository, d.digest());
                boolean gone = metadata.deleteManifest(repository, d.digest());
                if (gone) events.manifestDeleted(repository, d.digest(), stored.map(m -> (long) m.content().length).orElse(0L));
                yield gone;
            }
        };
        if (!deleted) {
            throw manifestUnknown(reference);
        }
    }

    private byte[] readLimited(InputStream body) {
        try {
            byte[] content = body.readNBytes(Math.toIntExact(Math.min(maxManifestBytes + 1, Integer.MAX_VALUE - 16)));
            if (content.length > maxManifestBytes) {
                throw new Refusal(Refusal.Reason.MANIFEST_TOO_LARGE, "manifest exceeds the limit of " + maxManifestBytes + " bytes");
            }
            return content;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Page tags(RepositoryName repository, Optional<String> last, OptionalLong n) {
        if (!metadata.repositoryExists(repository)) {
            throw new Refusal(Refusal.Reason.REPOSITORY_NOT_FOUND, "repository " + repository + " is not known",
                    Map.of("name", repository.value()));
        }
        int limit = pageSize(n);
        return page(metadata.tags(repository, last, limit + 1), limit);
    }

    /**
     * A page of the repository's manifests with their tags, push time and last use (as the records hold it: uses
     * not yet flushed from this node's batch are not in it), in digest order after {@code last}.
     */
    public List<dev.cairn.metadata.ManifestTimes> entries(RepositoryName repository, Optional<Digest> last, OptionalLong n) {
        if (!metadata.repositoryExists(repository)) {
            throw new Refusal(Refusal.Reason.REPOSITORY_NOT_FOUND, "repository " + repository + " is not known",
                    Map.of("name", repository.value()));
        }
        return metadata.manifestTimes(repository, last, pageSize(n));
    }

    /** How soon after its push an imported entry may be given its old times. */
    public static final java.time.Duration BACKDATE_WINDOW = java.time.Duration.ofHours(1);

    /**
     * Gives a manifest the push time and last use it had where it came from (an import), never later than now
     * nor later than what the records hold, and only while nothing has read it since it was pushed here within the
     * last hour: a cache moved between nodes keeps its eviction order, nobody makes an entry look newer than it is,
     * and no build's read of it is forgotten (read protection keeps what a build read by its last use).
     * MANIFEST_NOT_FOUND when there is no such manifest; false when it is there but read or pushed too long ago.
     */
    public boolean backdate(RepositoryName repository, Digest digest, java.time.Instant pushedAt, java.time.Instant lastUsed) {
        java.time.Instant now = clock.instant();
        // uses this node read before now go first: a build's read, written after, must still count
        lastUse.flush();
        // another node's reads may still be in its batch, unseen by the check below: on shared stores the last use
        // goes back no further than the records may lag a read, so a read of it there stays within read protection
        java.time.Instant used = min(lastUsed, now);
        if (metadata.isShared()) {
            java.time.Instant floor = now.minus(lastUse.protection().batchedLag());
            if (used.isBefore(floor)) used = floor;
        }
        if (metadata.backdateManifest(repository, digest, min(pushedAt, now), used, now.minus(BACKDATE_WINDOW))) return true;
        if (!metadata.manifestExists(repository, digest)) throw manifestUnknown(new Reference.ByDigest(digest));
        return false;
    }

    private static java.time.Instant min(java.time.Instant a, java.time.Instant b) {
        return a.isBefore(b) ? a : b;
    }

    public Page repositories(Optional<String> last, OptionalLong n) {
        int limit = pageSize(n);
        return page(metadata.repositories(last, limit + 1), limit);
    }

    /** Descriptors of the repository's manifests whose subject is {@code subject}, optionally of one artifact type. */
    public List<Descriptor> referrers(RepositoryName repository, Digest subject, Optional<String> artifactType) {
        List<Descriptor> result = new ArrayList<>();
        for (StoredManifest stored : metadata.referrers(repository, subject)) {
            if (artifactType.isPresent() && !artifactType.equals(stored.artifactType())) continue;
            Manifest manifest = ManifestParser.parse(stored.content(), Optional.of(stored.mediaType()));
            result.add(new Descriptor(stored.mediaType(), stored.digest(), stored.content().length,
                    stored.artifactType(), manifest.annotations(), List.of()));
        }
        return result;
    }

    private static int pageSize(OptionalLong n) {
        if (n.isEmpty()) return MAX_PAGE;
        if (n.getAsLong() < 0) {
            throw new Refusal(Refusal.Reason.INVALID_PAGE_SIZE, "n must not be negative");
        }
        return (int) Math.min(n.getAsLong(), MAX_PAGE);
    }

    private static Page page(List<String> fetched, int limit) {
        if (fetched.size() > limit) {
            List<String> items = fetched.subList(0, limit);
            return new Page(items, items.isEmpty() ? Optional.empty() : Optional.of(items.getLast()));
        }
        return new Page(fetched, Optional.empty());
    }

}

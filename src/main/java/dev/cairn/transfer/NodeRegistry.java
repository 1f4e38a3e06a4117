package dev.cairn.transfer;

import dev.cairn.metadata.ManifestTimes;
import dev.cairn.registry.Page;
import dev.cairn.registry.Registry;
import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.registry.RepositoryManifests;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * This node's own registry as a transfer sees any other: what a scheduled replication writes into, through the
 * same domain services a push goes through (digests verified, references checked, the budget kept), with no
 * HTTP and no credentials in between. Reads are transfers: no last use recorded.
 */
public final class NodeRegistry implements OciRegistry {
    private static final int PAGE = 1000;
    private final RepositoryBlobs blobs;
    private final RepositoryManifests manifests;

    public NodeRegistry(Registry registry) {
        this.blobs = registry.blobs();
        this.manifests = registry.manifests();
    }

    @Override
    public List<RepositoryName> repositories() {
        List<RepositoryName> names = new ArrayList<>();
        Optional<String> last = Optional.empty();
        do {
            Page page = manifests.repositories(last, OptionalLong.of(PAGE));
            page.items().forEach(n -> names.add(RepositoryName.of(n)));
            last = page.next();
        } while (last.isPresent());
        return names;
    }

    @Override
    public List<Tag> tags(RepositoryName repository) {
        List<Tag> tags = new ArrayList<>();
        Optional<String> last = Optional.empty();
        try {
            do {
                Page page = manifests.tags(repository, last, OptionalLong.of(PAGE));
                page.items().forEach(t -> tags.add(new Tag(t)));
                last = page.next();
            } while (last.isPresent());
        } catch (Refusal e) {
            if (e.reason() != Refusal.Reason.REPOSITORY_NOT_FOUND) throw e;
        }
        return tags;
    }

    @Override
    public Optional<FetchedManifest> manifest(RepositoryName repository, Reference reference) {
        try {
            StoredManifest m = manifests.readWithoutUse(repository, reference);
            return Optional.of(new FetchedManifest(m.mediaType(), m.digest(), m.content()));
        } catch (Refusal e) {
            if (e.reason() == Refusal.Reason.MANIFEST_NOT_FOUND) return Optional.empty();
            throw e;
        }
    }

    /** As a HEAD would: a blob found is a use, so that no sweep takes it before the manifest that needs it arrives. */
    @Override
    public boolean hasBlob(RepositoryName repository, Digest digest) {
        try {
            blobs.blobServed(blobs.statBlob(repository, digest), 0);
            return true;
        } catch (Refusal e) {
            if (e.reason() == Refusal.Reason.BLOB_NOT_FOUND) return false;
            throw e;
        }
    }

    @Override
    public InputStream blob(RepositoryName repository, Digest digest) {
        return blobs.openBlob(repository, digest, 0);
    }

    @Override
    public void pushBlob(RepositoryName repository, Digest digest, long size, InputStream body) throws IOException {
        try {
            blobs.putBlob(repository, digest, body);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The node writes into itself: no access rules stand between a scheduled replication and its own store. */
    @Override
    public void checkPush(RepositoryName repository) {
    }

    @Override
    public boolean mountBlob(RepositoryName repository, Digest digest, RepositoryName from) {
        return blobs.mount(repository, digest, from).isPresent();
    }

    @Override
    public void pushManifest(RepositoryName repository, Reference reference, String mediaType, byte[] content) {
        manifests.putManifest(repository, reference, Optional.of(mediaType), new ByteArrayInputStream(content));
    }

    @Override
    public List<ListedEntry> entries(RepositoryName repository) {
        List<ListedEntry> entries = new ArrayList<>();
        Optional<Digest> last = Optional.empty();
        try {
            while (true) {
                List<ManifestTimes> page = manifests.entries(repository, last, OptionalLong.of(PAGE));
                for (ManifestTimes m : page) {
                    entries.add(new ListedEntry(m.digest(), m.mediaType(), m.tags(), new EntryTimes(m.pushedAt(), m.lastUsed())));
                }
                if (page.size() < PAGE) return entries;
                last = Optional.of(page.get(page.size() - 1).digest());
            }
        } catch (Refusal e) {
            if (e.reason() == Refusal.Reason.REPOSITORY_NOT_FOUND) return entries;
            throw e;
        }
    }

    @Override
    public boolean backdate(RepositoryName repository, Digest digest, EntryTimes times) {
        try {
            return manifests.backdate(repository, digest, times.pushedAt(), times.lastUsed());
        } catch (Refusal e) {
            if (e.reason() == Refusal.Reason.MANIFEST_NOT_FOUND) return false;
            throw e;
        }
    }
}

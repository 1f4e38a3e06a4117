package dev.cairn.transfer;

import dev.cairn.registry.Manifest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One round of copying what another registry holds under some names into this one, pulling only what is
 * missing: a tag whose manifest this registry already has under that tag is skipped without reading
 * further; otherwise every blob and manifest the target lacks is streamed across (each blob checked by the
 * target against its digest), the manifests an index names before the index, the tag last, and the source's
 * push time and last use given to the copy when the source is a Cairn. A round that fails part-way leaves
 * whole blobs and whole manifests behind and no tag on anything incomplete; the next round copies the rest.
 * Reads on both sides are marked as transfers, so they do not count as uses in a Cairn.
 */
public final class Replication {
    /** What a round did. */
    public record Report(int copied, int upToDate, int blobsCopied, long bytesCopied) {
    }

    /** Told of each tag or digest a round copied, once the copy is whole: the bytes of blobs it sent for it. */
    public interface Copied {
        void copied(RepositoryName repository, Optional<Tag> tag, Digest digest, long bytes);
    }

    private final OciRegistry source;
    private final OciRegistry target;
    private final Consumer<String> progress;
    private TransferMeter meter = TransferMeter.NONE;
    private Copied copied = (repository, tag, digest, bytes) -> { };
    /** Asked before each entry: false stops the round (a scheduled round whose node lost the lease to another). */
    private java.util.function.BooleanSupplier mayGoOn = () -> true;
    /** Where this round found or put each blob in the target, to mount it into the next repository that needs it. */
    private final java.util.Map<Digest, RepositoryName> placed = new java.util.concurrent.ConcurrentHashMap<>();
    /** Index entries that are blobs, gathered while an index is walked, copied with the next batch. */
    private final List<Descriptor> pending = new java.util.ArrayList<>();
    private int copiedEntries;
    private int upToDate;
    private int blobsCopied;
    private long bytesCopied;

    public Replication(OciRegistry source, OciRegistry target, Consumer<String> progress) {
        this.source = source;
        this.target = target;
        this.progress = progress;
    }

    /** Tells {@code listener} of each entry copied (the node's audit log, for scheduled rounds). */
    public Replication reportingTo(Copied listener) {
        this.copied = listener;
        return this;
    }

    /** Stops the round, before its next entry, once {@code lease} says no (another node runs the rules now). */
    public Replication whileHolding(java.util.function.BooleanSupplier lease) {
        this.mayGoOn = lease;
        return this;
    }

    /** Reports the bytes as they are copied, for a progress display. */
    public Replication meteredBy(TransferMeter meter) {
        this.meter = meter;
        return this;
    }

    public Report round(List<Export.Selector> selectors) throws IOException {
        RepositoryCatalog catalog = new RepositoryCatalog(source);
        for (Export.Selector selector : selectors) {
            for (RepositoryName repository : catalog.matching(selector)) {
                List<OciRegistry.ListedEntry> listed = source.entries(repository);
                Map<Digest, OciRegistry.EntryTimes> times = new java.util.HashMap<>();
                for (OciRegistry.ListedEntry e : listed) times.put(e.digest(), e.times());
                if (selector.digest().isPresent()) {
                    copy(repository, new Reference.ByDigest(selector.digest().get()), times);
                    continue;
                }
                // where both sides are Cairns, their listings say which tags already agree: those cost no request
                // each (a round over 10,000 tags that are all up to date read each manifest before)
                Map<String, Digest> there = tagged(listed);
                Map<String, Digest> here = there.isEmpty() ? Map.of() : tagged(target.entries(repository));
                for (Tag tag : source.tags(repository)) {
                    if (selector.tags().isEmpty() || selector.tags().get().matches(tag.value())) {
                        Digest known = there.get(tag.value());
                        if (known != null && known.equals(here.get(tag.value()))) {
                            upToDate++;
                            continue;
                        }
                        copy(repository, new Reference.ByTag(tag), times);
                    }
                }
            }
        }
        return new Report(copiedEntries, upToDate, blobsCopied, bytesCopied);
    }

    private static Map<String, Digest> tagged(List<OciRegistry.ListedEntry> entries) {
        Map<String, Digest> byTag = new java.util.HashMap<>();
        for (OciRegistry.ListedEntry e : entries) for (String tag : e.tags()) byTag.put(tag, e.digest());
        return byTag;
    }

    private void copy(RepositoryName repository, Reference reference, Map<Digest, OciRegistry.EntryTimes> times) throws IOException {
        String name = repository + (reference instanceof Reference.ByTag ? ":" : "@") + reference;
        if (!mayGoOn.getAsBoolean()) {
            throw new IOException("this node no longer holds the replication lease (its database session ended): the round stops before "
                    + name + ", and the node that holds it now copies the rest");
        }
        Optional<OciRegistry.FetchedManifest> found = source.manifest(repository, reference);
        if (found.isEmpty()) {
            // the source's collector may take a tag between its listing and this read: the rest of the round goes on
            progress.accept("skipped " + name + ": gone from the source since it was listed");
            return;
        }
        OciRegistry.FetchedManifest manifest = found.get();
        Optional<OciRegistry.FetchedManifest> here = target.manifest(repository, reference);
        if (here.isPresent() && here.get().digest().equals(manifest.digest())) {
            upToDate++;
            return;
        }
        int blobsBefore = blobsCopied;
        long bytesBefore = bytesCopied;
        // an entry already here under another name keeps its own history; only a new one takes the source's times,
        // and only a tagged one (an untagged one given an old push time would go at the next collection)
        boolean isNew = reference instanceof Reference.ByTag
                && target.manifest(repository, new Reference.ByDigest(manifest.digest())).isEmpty();
        copyTree(repository, manifest, new HashSet<>());
        target.pushManifest(repository, reference, manifest.mediaType(), manifest.content());
        OciRegistry.EntryTimes when = times.get(manifest.digest());
        if (when != null && isNew) target.backdate(repository, manifest.digest(), when);
        copiedEntries++;
        this.copied.copied(repository, reference instanceof Reference.ByTag t ? Optional.of(t.tag()) : Optional.empty(), manifest.digest(),
                bytesCopied - bytesBefore);
        progress.accept("replicated " + name + " " + manifest.digest() + " (" + (blobsCopied - blobsBefore) + " blobs, "
                + (bytesCopied - bytesBefore) + " bytes)");
    }

    /** What {@code fetched} references, into the target where it lacks it; the document itself is the caller's to push. */
    private void copyTree(RepositoryName repository, OciRegistry.FetchedManifest fetched, Set<Digest> done) throws IOException {
        Manifest manifest = fetched.parsed(repository);
        for (Descriptor child : manifest.children()) {
            if (!MediaTypes.isSupportedManifest(child.mediaType())) {
                blob(repository, child, done);
            } else if (done.add(child.digest()) && target.manifest(repository, new Reference.ByDigest(child.digest())).isEmpty()) {
                OciRegistry.FetchedManifest childManifest = source.manifest(repository, new Reference.ByDigest(child.digest()))
                        .orElseThrow(() -> new IOException(repository + "@" + fetched.digest() + " names " + child.digest() + ", which the source does not hold"));
                copyTree(repository, childManifest, done);
                target.pushManifest(repository, new Reference.ByDigest(child.digest()), childManifest.mediaType(), childManifest.content());
            }
        }
        List<Descriptor> blobs = new java.util.ArrayList<>(pending);
        pending.clear();
        if (manifest.config().isPresent() && done.add(manifest.config().get().digest())) blobs.add(manifest.config().get());
        for (Descriptor layer : manifest.layers()) {
            if (!layer.isForeignLayer() && done.add(layer.digest())) blobs.add(layer);
        }
        Parallel.forEach(blobs, blob -> copyBlob(repository, blob));
    }

    /** A blob an index lists as one of its entries (BuildKit's cache index): copied with the manifest's own blobs. */
    private void blob(RepositoryName repository, Descriptor descriptor, Set<Digest> done) {
        if (done.add(descriptor.digest())) pending.add(descriptor);
    }

    private void copyBlob(RepositoryName repository, Descriptor descriptor) throws IOException {
        if (target.hasBlob(repository, descriptor.digest())) {
            placed.putIfAbsent(descriptor.digest(), repository);
            return;
        }
        // a blob this round put into another repository is linked here, not fetched again
        RepositoryName elsewhere = placed.get(descriptor.digest());
        if (elsewhere != null && !elsewhere.equals(repository) && target.mountBlob(repository, descriptor.digest(), elsewhere)) return;
        try (InputStream content = source.blob(repository, descriptor.digest())) {
            target.pushBlob(repository, descriptor.digest(), descriptor.size(), meter.metered(content));
        }
        placed.putIfAbsent(descriptor.digest(), repository);
        synchronized (this) {
            blobsCopied++;
            bytesCopied += descriptor.size();
        }
    }
}

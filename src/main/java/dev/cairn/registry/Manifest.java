package dev.cairn.registry;

import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * A parsed image manifest or index: what it references and what the referrers API reports about it.
 * The bytes as pushed are kept separately; this is only what Cairn reads from them.
 */
public record Manifest(
        String mediaType,
        Optional<Descriptor> config,
        List<Descriptor> layers,
        List<Descriptor> children,
        Optional<Descriptor> subject,
        Optional<String> artifactType,
        Map<String, String> annotations) {

    public Manifest {
        layers = List.copyOf(layers);
        children = List.copyOf(children);
        annotations = Map.copyOf(annotations);
    }

    /**
     * Every digest that must be in the repository before this manifest is: config, layers and index
     * entries (which in BuildKit's cache index are layer blobs, not manifests). Foreign layers are not
     * required; the subject is not either (the spec lets a referrer arrive before its subject).
     */
    public Set<Digest> requiredDigests() {
        Set<Digest> digests = new TreeSet<>();
        config.ifPresent(c -> digests.add(c.digest()));
        for (Descriptor d : layers) if (!d.isForeignLayer()) digests.add(d.digest());
        for (Descriptor d : children) digests.add(d.digest());
        return digests;
    }

    /** The artifact type the referrers API reports: the manifest's own, else its config's media type. */
    public Optional<String> effectiveArtifactType() {
        if (artifactType.isPresent()) return artifactType;
        return config.map(Descriptor::mediaType);
    }
}

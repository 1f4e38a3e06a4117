package dev.cairn.registry;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** An OCI content descriptor: what a manifest says about something it points at. */
public record Descriptor(
        String mediaType,
        Digest digest,
        long size,
        Optional<String> artifactType,
        Map<String, String> annotations,
        List<String> urls) {
    public Descriptor {
        annotations = Map.copyOf(annotations);
        urls = List.copyOf(urls);
    }

    public static Descriptor of(String mediaType, Digest digest, long size) {
        return new Descriptor(mediaType, digest, size, Optional.empty(), Map.of(), List.of());
    }

    /** Content that lives elsewhere (Docker foreign layers, OCI non-distributable layers) names its URLs. */
    public boolean isExternal() {
        return !urls.isEmpty();
    }
}

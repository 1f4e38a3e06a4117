package dev.cairn.values;

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

    /**
     * A layer that lives elsewhere: a Docker foreign layer or an OCI non-distributable layer, with the
     * URLs to fetch it from. Registries do not hold these, so they need not be pushed first.
     */
    public boolean isForeignLayer() {
        return !urls.isEmpty() && (mediaType.contains(".foreign.") || mediaType.contains(".nondistributable."));
    }
}

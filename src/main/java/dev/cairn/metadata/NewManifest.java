package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** A manifest about to be stored, with every digest it references (which must already be in the repository). */
public record NewManifest(
        RepositoryName repository,
        Digest digest,
        String mediaType,
        byte[] content,
        Optional<Digest> subject,
        Optional<String> artifactType,
        Set<Digest> references,
        Instant pushedAt) {
    public NewManifest {
        references = Set.copyOf(references);
    }

    public List<Digest> sortedReferences() {
        return references.stream().sorted().toList();
    }
}

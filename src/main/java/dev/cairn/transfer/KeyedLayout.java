package dev.cairn.transfer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * How build-tool caches travel in an OCI image layout, beside the images: each kind and namespace as artifact
 * manifests ({@value #ARTIFACT_TYPE}) of at most {@value #CHUNK} keys, each key a layer (its content, a blob of
 * the layout like any other) annotated with the key, its push time and last use, and what the client said of it
 * (Turborepo's build time and signature). {@code index.json} names each such manifest with its kind and
 * namespace ({@value #KIND}, {@value #NAMESPACE}) and no {@code ref.name}: they are not images to pull by name.
 * Any OCI tool copies such a layout whole; only Cairn's import puts the keys back.
 */
final class KeyedLayout {
    static final String ARTIFACT_TYPE = "application/vnd.cairn.keyed-cache.v1";
    static final String KIND = "dev.cairn.kind";
    static final String NAMESPACE = "dev.cairn.namespace";
    static final String KEY = "dev.cairn.key";
    static final String COST_MS = "dev.cairn.cost-ms";
    static final String SIGNATURE = "dev.cairn.signature";
    /** Keys a manifest names at most: a few hundred KiB of JSON, well under what registries and import take. */
    static final int CHUNK = 1000;
    /** OCI's empty descriptor, the config of an artifact that has none. */
    static final byte[] EMPTY_CONFIG = "{}".getBytes(StandardCharsets.UTF_8);
    static final Digest EMPTY_CONFIG_DIGEST = Digest.sha256(EMPTY_CONFIG);

    private KeyedLayout() {
    }

    /** One chunk of a namespace: its kind, namespace and keys. */
    record Chunk(String kind, RepositoryName namespace, List<KeyedCaches.Entry> entries) {
    }

    static byte[] manifest(Chunk chunk) throws IOException {
        ObjectNode m = LayoutTarget.JSON.createObjectNode();
        m.put("schemaVersion", 2);
        m.put("mediaType", MediaTypes.OCI_MANIFEST);
        m.put("artifactType", ARTIFACT_TYPE);
        ObjectNode config = m.putObject("config");
        config.put("mediaType", "application/vnd.oci.empty.v1+json");
        config.put("digest", EMPTY_CONFIG_DIGEST.toString());
        config.put("size", EMPTY_CONFIG.length);
        ArrayNode layers = m.putArray("layers");
        for (KeyedCaches.Entry e : chunk.entries()) {
            ObjectNode layer = layers.addObject();
            layer.put("mediaType", "application/octet-stream");
            layer.put("digest", e.digest().toString());
            layer.put("size", e.size());
            ObjectNode annotations = layer.putObject("annotations");
            annotations.put(KEY, e.key());
            annotations.put(LayoutTarget.PUSHED_AT, e.pushedAt().toString());
            annotations.put(LayoutTarget.LAST_USED, e.lastUsed().toString());
            e.costMillis().ifPresent(ms -> annotations.put(COST_MS, Long.toString(ms)));
            e.signature().ifPresent(sig -> annotations.put(SIGNATURE, sig));
        }
        ObjectNode annotations = m.putObject("annotations");
        annotations.put(KIND, chunk.kind());
        annotations.put(NAMESPACE, chunk.namespace().value());
        return LayoutTarget.JSON.writeValueAsBytes(m);
    }

    /** The annotations index.json gives a chunk's manifest. */
    static Map<String, String> indexAnnotations(Chunk chunk) {
        return Map.of(KIND, chunk.kind(), NAMESPACE, chunk.namespace().value());
    }

    /** True for an index.json entry that is a chunk of keys rather than an image. */
    static boolean isChunk(Map<String, String> indexAnnotations) {
        return indexAnnotations.containsKey(KIND);
    }

    /** A chunk's manifest read back; an error naming what is wrong with it otherwise. */
    static Chunk parse(byte[] manifest) {
        JsonNode m;
        try {
            m = LayoutTarget.JSON.readTree(manifest);
        } catch (IOException e) {
            throw new IllegalArgumentException("does not parse: " + e.getMessage());
        }
        if (!ARTIFACT_TYPE.equals(m.path("artifactType").asText())) {
            throw new IllegalArgumentException("is not a manifest of keys (artifactType " + ARTIFACT_TYPE + ")");
        }
        String kind = m.path("annotations").path(KIND).asText("");
        if (kind.isEmpty()) throw new IllegalArgumentException("names no kind of keys");
        RepositoryName namespace = RepositoryName.of(m.path("annotations").path(NAMESPACE).asText(""));
        List<KeyedCaches.Entry> entries = new ArrayList<>();
        for (JsonNode layer : m.path("layers")) {
            JsonNode a = layer.path("annotations");
            String key = a.path(KEY).asText("");
            if (key.isEmpty()) throw new IllegalArgumentException("has a layer without its key (" + KEY + ")");
            long size = layer.path("size").asLong(-1);
            if (size < 0) throw new IllegalArgumentException("gives the key " + key + " no size");
            OptionalLong cost = a.hasNonNull(COST_MS) ? OptionalLong.of(Long.parseLong(a.get(COST_MS).asText())) : OptionalLong.empty();
            entries.add(new KeyedCaches.Entry(key, Digest.parse(layer.path("digest").asText()), size,
                    Instant.parse(a.path(LayoutTarget.PUSHED_AT).asText()), Instant.parse(a.path(LayoutTarget.LAST_USED).asText()),
                    cost, Optional.ofNullable(a.get(SIGNATURE)).map(JsonNode::asText), List.of()));
        }
        return new Chunk(kind, namespace, entries);
    }
}

package dev.cairn.registry;

import dev.cairn.values.Refusal;
import dev.cairn.values.Digest;
import dev.cairn.values.Descriptor;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads the manifest formats Cairn stores: OCI image manifest and index, Docker schema 2 manifest and
 * manifest list, including builder cache documents (BuildKit cache indexes that list layer blobs as
 * entries, image manifests with an empty layer list, artifact manifests with {@code artifactType}).
 * It is strict about what Cairn relies on (descriptor digests and sizes) and lenient about the rest.
 */
public final class ManifestParser {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build());
    }

    private ManifestParser() {
    }

    /**
     * Parses {@code content}. {@code contentType} is the request's Content-Type, if any; it must agree
     * with the document's own {@code mediaType} when both are given.
     */
    public static Manifest parse(byte[] content, Optional<String> contentType) {
        JsonNode root;
        try {
            root = JSON.readTree(content);
        } catch (JsonProcessingException e) {
            throw invalid("manifest is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw invalid("manifest is not readable: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw invalid("manifest must be a JSON object");
        }
        JsonNode schemaVersion = root.get("schemaVersion");
        if (schemaVersion == null || !schemaVersion.isIntegralNumber() || schemaVersion.asInt() != 2) {
            throw invalid("unsupported schemaVersion (only 2 is accepted)");
        }
        Optional<String> declared = optionalText(root, "mediaType");
        String mediaType = resolveMediaType(root, declared, contentType.map(MediaTypes::bare).filter(t -> !t.isEmpty()));

        Optional<Descriptor> subject = root.has("subject") ? Optional.of(descriptor(root.get("subject"), "subject")) : Optional.empty();
        Optional<String> artifactType = optionalText(root, "artifactType");
        Map<String, String> annotations = annotations(root.get("annotations"), "annotations");

        if (MediaTypes.INDEXES.contains(mediaType)) {
            JsonNode manifests = root.get("manifests");
            if (manifests == null || !manifests.isArray()) {
                throw invalid("an index needs a 'manifests' array");
            }
            return new Manifest(mediaType, Optional.empty(), List.of(), descriptors(manifests, "manifests"),
                    subject, artifactType, annotations);
        }
        JsonNode config = root.get("config");
        if (config == null) {
            throw invalid("an image manifest needs a 'config' descriptor");
        }
        JsonNode layers = root.get("layers");
        if (layers == null || !layers.isArray()) {
            throw invalid("an image manifest needs a 'layers' array (it may be empty)");
        }
        return new Manifest(mediaType, Optional.of(descriptor(config, "config")), descriptors(layers, "layers"),
                List.of(), subject, artifactType, annotations);
    }

    private static String resolveMediaType(JsonNode root, Optional<String> declared, Optional<String> contentType) {
        String mediaType;
        if (contentType.isPresent() && MediaTypes.isSupportedManifest(contentType.get())) {
            mediaType = contentType.get();
            if (declared.isPresent() && !declared.get().equals(mediaType)) {
                throw invalid("Content-Type " + mediaType + " does not match the manifest's mediaType " + declared.get());
            }
        } else if (declared.isPresent()) {
            mediaType = declared.get();
        } else if (contentType.isPresent() && !isGeneric(contentType.get())) {
            mediaType = contentType.get();
        } else {
            // OCI documents may omit mediaType; their shape says which one they are.
            mediaType = root.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
        }
        if (!MediaTypes.isSupportedManifest(mediaType)) {
            throw invalid("unsupported manifest media type: " + mediaType);
        }
        return mediaType;
    }

    private static boolean isGeneric(String contentType) {
        return contentType.equals("application/json") || contentType.equals("application/octet-stream")
                || contentType.equals("text/plain");
    }

    private static List<Descriptor> descriptors(JsonNode array, String field) {
        List<Descriptor> result = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) {
            result.add(descriptor(array.get(i), field + "[" + i + "]"));
        }
        return result;
    }

    private static Descriptor descriptor(JsonNode node, String where) {
        if (node == null || !node.isObject()) {
            throw invalid(where + " must be a descriptor object");
        }
        String mediaType = optionalText(node, "mediaType").orElseThrow(() -> invalid(where + " lacks mediaType"));
        String digestText = optionalText(node, "digest").orElseThrow(() -> invalid(where + " lacks digest"));
        Digest digest;
        try {
            digest = Digest.parse(digestText);
        } catch (Refusal e) {
            throw invalid(where + ": " + e.getMessage());
        }
        JsonNode size = node.get("size");
        if (size == null || !size.isIntegralNumber() || !size.canConvertToLong() || size.asLong() < 0) {
            throw invalid(where + " needs a non-negative integer size");
        }
        List<String> urls = new ArrayList<>();
        JsonNode urlNode = node.get("urls");
        if (urlNode != null) {
            if (!urlNode.isArray()) throw invalid(where + ".urls must be an array");
            urlNode.forEach(u -> urls.add(u.asText()));
        }
        return new Descriptor(mediaType, digest, size.asLong(), optionalText(node, "artifactType"),
                annotations(node.get("annotations"), where + ".annotations"), urls);
    }

    private static Map<String, String> annotations(JsonNode node, String where) {
        if (node == null || node.isNull()) return Map.of();
        if (!node.isObject()) throw invalid(where + " must be an object of strings");
        Map<String, String> result = new LinkedHashMap<>();
        for (var entry : node.properties()) {
            if (!entry.getValue().isTextual()) throw invalid(where + "." + entry.getKey() + " must be a string");
            result.put(entry.getKey(), entry.getValue().asText());
        }
        return result;
    }

    private static Optional<String> optionalText(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) return Optional.empty();
        if (!value.isTextual()) throw invalid(field + " must be a string");
        return Optional.of(value.asText());
    }

    private static Refusal invalid(String message) {
        return new Refusal(Refusal.Reason.INVALID_MANIFEST, message);
    }
}

package dev.cairn.transfer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code docker save}'s own format, as Docker wrote it before 25 (and still writes beside an OCI layout):
 * {@code manifest.json} lists each image's config file, its tags and its layers as uncompressed tars named
 * by path. A registry needs a manifest, so import writes one per image: an OCI image manifest whose config is
 * the saved config and whose layers are the saved tars as they are ({@code application/vnd.oci.image.layer.v1.tar},
 * digests equal to the config's diff IDs), which Docker, BuildKit, buildah and podman all pull.
 */
final class DockerArchive {
    static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
    static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How import names an entry: as {@code Import.root} does for a layout's. */
    interface Namer {
        Import.Root root(LayoutArchive archive, Optional<String> ref, Descriptor manifest) throws IOException;
    }

    private DockerArchive() {
    }

    /** The images {@code manifest.json} lists, with the manifests written for them put in {@code made}. */
    static List<Import.Root> roots(LayoutArchive archive, byte[] manifestJson, Map<Digest, byte[]> made, Namer namer) throws IOException {
        JsonNode images;
        try {
            images = JSON.readTree(manifestJson);
        } catch (IOException e) {
            throw LayoutArchive.bad(archive.toString(), "manifest.json does not parse: " + e.getMessage());
        }
        if (images == null || !images.isArray() || images.isEmpty()) {
            throw LayoutArchive.bad(archive.toString(), "manifest.json lists no images");
        }
        List<Import.Root> roots = new ArrayList<>();
        for (JsonNode image : images) {
            String configPath = image.path("Config").asText("");
            Digest config = file(archive, configPath, "config");
            ObjectNode manifest = JSON.createObjectNode();
            manifest.put("schemaVersion", 2);
            manifest.put("mediaType", MediaTypes.OCI_MANIFEST);
            describe(manifest.putObject("config"), CONFIG_TYPE, config, size(archive, config));
            ArrayNode layers = manifest.putArray("layers");
            if (!image.path("Layers").isArray()) throw LayoutArchive.bad(archive.toString(), configPath + ": manifest.json lists no Layers");
            for (JsonNode layer : image.path("Layers")) {
                Digest digest = file(archive, layer.asText(""), "layer");
                describe(layers.addObject(), LAYER_TYPE, digest, size(archive, digest));
            }
            byte[] content = JSON.writeValueAsBytes(manifest);
            Digest digest = Digest.sha256(content);
            made.put(digest, content);
            Descriptor descriptor = new Descriptor(MediaTypes.OCI_MANIFEST, digest, content.length, Optional.empty(), Map.of(), List.of());
            JsonNode tags = image.path("RepoTags");
            if (!tags.isArray() || tags.isEmpty()) {
                roots.add(namer.root(archive, Optional.empty(), descriptor));
            } else {
                for (JsonNode tag : tags) roots.add(namer.root(archive, Optional.of(tag.asText()), descriptor));
            }
        }
        return roots;
    }

    private static Digest file(LayoutArchive archive, String path, String what) throws IOException {
        if (path.isEmpty()) throw LayoutArchive.bad(archive.toString(), "manifest.json names a " + what + " without a path");
        return archive.fileDigest(path).orElseThrow(() -> LayoutArchive.bad(archive.toString(),
                "manifest.json names the " + what + " " + path + ", which the archive does not hold"));
    }

    private static long size(LayoutArchive archive, Digest digest) throws IOException {
        return archive.blobSize(digest).orElseThrow(() -> LayoutArchive.bad(archive.toString(), digest + " is named but not held"));
    }

    private static void describe(ObjectNode node, String mediaType, Digest digest, long size) {
        node.put("mediaType", mediaType);
        node.put("digest", digest.toString());
        node.put("size", size);
    }
}

package dev.cairn.registry;

import java.util.Set;

/** The manifest media types Cairn stores, and a few it recognises inside them. */
public final class MediaTypes {
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    public static final String DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    /** BuildKit's cache configuration, the config blob of its registry cache (both forms). */
    public static final String BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";

    public static final Set<String> MANIFESTS = Set.of(OCI_MANIFEST, DOCKER_MANIFEST);
    public static final Set<String> INDEXES = Set.of(OCI_INDEX, DOCKER_MANIFEST_LIST);

    private MediaTypes() {
    }

    public static boolean isSupportedManifest(String mediaType) {
        return MANIFESTS.contains(mediaType) || INDEXES.contains(mediaType);
    }

    /** The bare type of a Content-Type or Accept value, without parameters, lower case. */
    public static String bare(String headerValue) {
        int semicolon = headerValue.indexOf(';');
        return (semicolon < 0 ? headerValue : headerValue.substring(0, semicolon)).strip().toLowerCase(java.util.Locale.ROOT);
    }
}

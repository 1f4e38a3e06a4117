package dev.cairn.http;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class OciRouteTest {
    @Test
    void namesWithSeveralSegmentsRouteByTheirSuffix() {
        assertThat(OciRoute.parse("/v2/team/app/cache/manifests/latest")).hasValue(new OciRoute(OciRoute.Kind.MANIFEST, "team/app/cache", "latest"));
        assertThat(OciRoute.parse("/v2/a/b/blobs/sha256:abc")).hasValue(new OciRoute(OciRoute.Kind.BLOB, "a/b", "sha256:abc"));
        assertThat(OciRoute.parse("/v2/a/blobs/uploads/")).hasValue(new OciRoute(OciRoute.Kind.UPLOADS, "a", ""));
        assertThat(OciRoute.parse("/v2/a/blobs/uploads")).hasValue(new OciRoute(OciRoute.Kind.UPLOADS, "a", ""));
        assertThat(OciRoute.parse("/v2/a/blobs/uploads/123-abc")).hasValue(new OciRoute(OciRoute.Kind.UPLOAD, "a", "123-abc"));
        assertThat(OciRoute.parse("/v2/a/tags/list")).hasValue(new OciRoute(OciRoute.Kind.TAGS, "a", ""));
        assertThat(OciRoute.parse("/v2/a/referrers/sha256:x")).hasValue(new OciRoute(OciRoute.Kind.REFERRERS, "a", "sha256:x"));
    }

    @Test
    void aNameMayContainEndpointWords() {
        assertThat(OciRoute.parse("/v2/manifests/blobs/tags/manifests/v1")).hasValue(new OciRoute(OciRoute.Kind.MANIFEST, "manifests/blobs/tags", "v1"));
        assertThat(OciRoute.parse("/v2/blobs/uploads/blobs/uploads/")).hasValue(new OciRoute(OciRoute.Kind.UPLOADS, "blobs/uploads", ""));
    }

    @Test
    void fixedEndpointsAndUnknownPaths() {
        assertThat(OciRoute.parse("/v2/").orElseThrow().kind()).isEqualTo(OciRoute.Kind.BASE);
        assertThat(OciRoute.parse("/v2").orElseThrow().kind()).isEqualTo(OciRoute.Kind.BASE);
        assertThat(OciRoute.parse("/v2/_catalog").orElseThrow().kind()).isEqualTo(OciRoute.Kind.CATALOG);
        assertThat(OciRoute.parse("/healthz")).as("another front's path").isEmpty();
        assertThat(OciRoute.parse("/readyz")).as("another front's path").isEmpty();
        assertThat(OciRoute.parse("/v2/a/manifests/")).isEmpty();
        assertThat(OciRoute.parse("/v2/a/nothing")).isEmpty();
        assertThat(OciRoute.parse("/")).isEmpty();
    }
}

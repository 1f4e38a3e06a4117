package dev.cairn.http;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class RouteTest {
    @Test
    void namesWithSeveralSegmentsRouteByTheirSuffix() {
        assertThat(Route.parse("/v2/team/app/cache/manifests/latest"))
                .isEqualTo(new Route(Route.Kind.MANIFEST, "team/app/cache", "latest"));
        assertThat(Route.parse("/v2/a/b/blobs/sha256:abc")).isEqualTo(new Route(Route.Kind.BLOB, "a/b", "sha256:abc"));
        assertThat(Route.parse("/v2/a/blobs/uploads/")).isEqualTo(new Route(Route.Kind.UPLOADS, "a", ""));
        assertThat(Route.parse("/v2/a/blobs/uploads")).isEqualTo(new Route(Route.Kind.UPLOADS, "a", ""));
        assertThat(Route.parse("/v2/a/blobs/uploads/123-abc")).isEqualTo(new Route(Route.Kind.UPLOAD, "a", "123-abc"));
        assertThat(Route.parse("/v2/a/tags/list")).isEqualTo(new Route(Route.Kind.TAGS, "a", ""));
        assertThat(Route.parse("/v2/a/referrers/sha256:x")).isEqualTo(new Route(Route.Kind.REFERRERS, "a", "sha256:x"));
    }

    @Test
    void aNameMayContainEndpointWords() {
        assertThat(Route.parse("/v2/manifests/blobs/tags/manifests/v1"))
                .isEqualTo(new Route(Route.Kind.MANIFEST, "manifests/blobs/tags", "v1"));
        assertThat(Route.parse("/v2/blobs/uploads/blobs/uploads/"))
                .isEqualTo(new Route(Route.Kind.UPLOADS, "blobs/uploads", ""));
    }

    @Test
    void fixedEndpointsAndUnknownPaths() {
        assertThat(Route.parse("/v2/").kind()).isEqualTo(Route.Kind.BASE);
        assertThat(Route.parse("/v2").kind()).isEqualTo(Route.Kind.BASE);
        assertThat(Route.parse("/v2/_catalog").kind()).isEqualTo(Route.Kind.CATALOG);
        assertThat(Route.parse("/healthz").kind()).isEqualTo(Route.Kind.HEALTHZ);
        assertThat(Route.parse("/readyz").kind()).isEqualTo(Route.Kind.READYZ);
        assertThat(Route.parse("/v2/a/manifests/").kind()).isEqualTo(Route.Kind.UNKNOWN);
        assertThat(Route.parse("/v2/a/nothing").kind()).isEqualTo(Route.Kind.UNKNOWN);
        assertThat(Route.parse("/").kind()).isEqualTo(Route.Kind.UNKNOWN);
    }
}

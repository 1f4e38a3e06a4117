package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.json;
import static org.assertj.core.api.Assertions.assertThat;

/** Tag listing (end-8a, end-8b) and the catalog, with pagination by {@code n}, {@code last} and {@code Link}. */
class ListingApiTest extends OneCairnPerClass {

    @BeforeAll
    static void fixtures() {
        OciClient.Image image = client.prepareImage("list/app", "application/vnd.oci.image.config.v1+json", "l".getBytes());
        for (String tag : List.of("v3", "v1", "latest", "v2", "main")) {
            client.pushManifest("list/app", tag, OCI_MANIFEST, image.manifest());
        }
        client.pushBlob("list/blob-only", "b".getBytes());
        client.pushBlob("list/zeta", "z".getBytes());
    }

    @Test
    void tagsAreListedInLexicalOrder() {
        HttpResponse<byte[]> r = client.get("/v2/list/app/tags/list");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).path("name").asText()).isEqualTo("list/app");
        List<String> tags = new ArrayList<>();
        json(r).path("tags").forEach(t -> tags.add(t.asText()));
        assertThat(tags).containsExactly("latest", "main", "v1", "v2", "v3");
        assertThat(r.headers().firstValue("Link")).isEmpty();
    }

    @Test
    void tagsPaginateWithNAndLastAndLink() {
        List<String> seen = new ArrayList<>();
        String next = "/v2/list/app/tags/list?n=2";
        int pages = 0;
        while (next != null) {
            HttpResponse<byte[]> r = client.get(next);
            assertThat(r.statusCode()).isEqualTo(200);
            json(r).path("tags").forEach(t -> seen.add(t.asText()));
            next = r.headers().firstValue("Link").map(link -> link.substring(link.indexOf('<') + 1, link.indexOf('>'))).orElse(null);
            if (next != null) assertThat(r.headers().firstValue("Link").orElseThrow()).endsWith("rel=\"next\"");
            pages++;
        }
        assertThat(seen).containsExactly("latest", "main", "v1", "v2", "v3");
        assertThat(pages).isEqualTo(3);

        List<String> afterMain = new ArrayList<>();
        json(client.get("/v2/list/app/tags/list?n=2&last=main")).path("tags").forEach(t -> afterMain.add(t.asText()));
        assertThat(afterMain).containsExactly("v1", "v2");
        assertThat(json(client.get("/v2/list/app/tags/list?n=0")).path("tags")).isEmpty();
    }

    @Test
    void repositoryWithoutTagsListsNone() {
        HttpResponse<byte[]> r = client.get("/v2/list/blob-only/tags/list");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).path("tags")).isEmpty();
    }

    @Test
    void unknownRepositoryIs404NameUnknown() {
        HttpResponse<byte[]> r = client.get("/v2/list/never/tags/list");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(errorCode(r)).isEqualTo("NAME_UNKNOWN");
    }

    @Test
    void badPageSizeIs400() {
        for (String n : new String[]{"-1", "many"}) {
            HttpResponse<byte[]> r = client.get("/v2/list/app/tags/list?n=" + n);
            assertThat(r.statusCode()).isEqualTo(400);
            assertThat(errorCode(r)).isEqualTo("PAGINATION_NUMBER_INVALID");
        }
    }

    @Test
    void catalogListsRepositoriesAndPaginates() {
        List<String> all = new ArrayList<>();
        json(client.get("/v2/_catalog")).path("repositories").forEach(t -> all.add(t.asText()));
        assertThat(all).containsExactly("list/app", "list/blob-only", "list/zeta");

        HttpResponse<byte[]> first = client.get("/v2/_catalog?n=2");
        List<String> page = new ArrayList<>();
        json(first).path("repositories").forEach(t -> page.add(t.asText()));
        assertThat(page).containsExactly("list/app", "list/blob-only");
        assertThat(first.headers().firstValue("Link")).hasValue("</v2/_catalog?n=2&last=list%2Fblob-only>; rel=\"next\"");
        List<String> rest = new ArrayList<>();
        json(client.get("/v2/_catalog?n=2&last=list%2Fblob-only")).path("repositories").forEach(t -> rest.add(t.asText()));
        assertThat(rest).containsExactly("list/zeta");
    }
}

package dev.cairn.http;

import dev.cairn.mirror.Upstream;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;

/**
 * A mirror's upstream over HTTP: {@link RegistryClient} (the token dance, credentials kept from other hosts,
 * redirects to blob storage) with requests that give up after 30 s, so an upstream that hangs fails a pull
 * instead of holding it. As a Docker client does, it sends its credentials only where the upstream asks for them: to
 * the token realm a Bearer challenge names, or with the requests of a registry that challenges for Basic.
 */
public final class UpstreamClient implements Upstream {
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    private final RegistryClient client;

    /** {@code maxManifestBytes}: what this Cairn keeps; a larger manifest is refused as it arrives, never read whole. */
    public UpstreamClient(String server, Optional<String> user, String password, long maxManifestBytes) {
        this.client = new RegistryClient(server, user, password, TIMEOUT, maxManifestBytes, true, true);
    }

    @Override
    public Optional<Description> describe(RepositoryName repository, Reference reference) throws IOException {
        return client.describe(repository, reference).map(d -> new Description(d.digest(), d.mediaType(), d.size()));
    }

    @Override
    public Optional<Manifest> manifest(RepositoryName repository, Reference reference) throws IOException {
        return client.manifest(repository, reference).map(m -> new Manifest(m.mediaType(), m.content()));
    }

    @Override
    public Optional<Long> blobLength(RepositoryName repository, Digest digest) throws IOException {
        return client.blobLength(repository, digest);
    }

    @Override
    public Optional<TagPage> tags(RepositoryName repository, Optional<String> last, int n) throws IOException {
        return client.tagPage(repository, last, n).map(p -> new TagPage(p.tags(), p.more()));
    }

    @Override
    public Optional<java.util.List<java.util.Map<String, Object>>> referrers(RepositoryName repository, Digest subject,
                                                                             Optional<String> artifactType) throws IOException {
        return client.referrers(repository, subject, artifactType);
    }

    @Override
    public Optional<Blob> blob(RepositoryName repository, Digest digest) throws IOException {
        return client.blobWithLength(repository, digest).map(d -> new Blob(d.length(), d.content()));
    }
}

package dev.cairn.it;

/** Two CI runners with podman share a layer cache through Cairn ({@code podman build --layers --cache-to/--cache-from}). */
class PodmanRunnersIT extends RunnersShareLayerCacheContract {
    @Override
    CiRunner.Client client() {
        return CiRunner.Client.PODMAN;
    }
}

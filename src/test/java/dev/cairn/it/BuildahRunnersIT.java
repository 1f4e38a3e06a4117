package dev.cairn.it;

/** Two CI runners with buildah share a layer cache through Cairn ({@code buildah build --layers --cache-to/--cache-from}). */
class BuildahRunnersIT extends RunnersShareLayerCacheContract {
    @Override
    CiRunner.Client client() {
        return CiRunner.Client.BUILDAH;
    }
}

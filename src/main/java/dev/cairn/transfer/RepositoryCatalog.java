package dev.cairn.transfer;

import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.util.List;

/** The repositories selectors name: one named outright is taken as named; a glob is matched against the catalog, read once. */
final class RepositoryCatalog {
    private final OciRegistry registry;
    private List<RepositoryName> catalog;

    RepositoryCatalog(OciRegistry registry) {
        this.registry = registry;
    }

    List<RepositoryName> matching(Export.Selector selector) throws IOException {
        if (selector.isOneRepository()) return List.of(RepositoryName.of(selector.repositories().pattern()));
        if (catalog == null) catalog = registry.repositories();
        return catalog.stream().filter(r -> selector.repositories().matches(r.value())).toList();
    }
}

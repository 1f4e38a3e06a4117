package dev.cairn.registry;

import java.util.List;
import java.util.Optional;

/** One page of a sorted listing; {@code next} is the value to pass as {@code last} for the next page. */
public record Page(List<String> items, Optional<String> next) {
    public Page {
        items = List.copyOf(items);
    }
}

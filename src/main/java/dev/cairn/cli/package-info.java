/** The {@code cairn} command line: {@code serve}, {@code config check}. */
package dev.cairn.cli;

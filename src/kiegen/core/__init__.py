"""The pure domain of kiegen: no I/O, no async, nothing third-party but attrs and cattrs."""

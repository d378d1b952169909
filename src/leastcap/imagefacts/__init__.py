"""What an image's own files say about the privilege it needs: evidence read, never run.

An image present on the local engine is exported (``docker create`` + ``export``: nothing in it
runs) and read as a stream with bounded memory: its ``USER``, entrypoint and command, the shell
scripts they run, binaries with file capabilities (the ``security.capability`` extended attribute)
and setuid/setgid bits. Each fact names the file and line inside the image that it rests on.

* :mod:`.model` - the facts;
* :mod:`.filecaps` - decoding ``security.capability``;
* :mod:`.files` - the bounded, in-memory view of an exported filesystem;
* :mod:`.scripts` - which scripts start-up runs, and what their commands need;
* :mod:`.inspect` - the docker adapter and the whole analysis of one image.
"""

"""The CCF route run by establishments (issue 14, §2): the coordinator's pages, the
transmission of the establishment's CCF marks to the académie, and its reopening."""

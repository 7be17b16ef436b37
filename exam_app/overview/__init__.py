"""Pages that gather several features: the académie's session dashboard
(enrolment counts, commissions) and the chef de centre's home (candidates,
commissions, E6 sitting, print packs). Above the features they read."""

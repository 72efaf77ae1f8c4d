from divergence.entry import main

main()

print('alert')
